package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

func (b *testBundle) reserve(t *testing.T, db *pgxpool.Pool, gen *store.Generation, limits store.InflightLimits) error {
	t.Helper()
	return pgx.BeginFunc(b.ctx, db, func(tx pgx.Tx) error {
		_, err := store.ReserveSubmission(b.ctx, tx, gen.ID, gen.Client, limits)
		return err
	})
}

func (b *testBundle) insertFor(t *testing.T, client string) *store.Generation {
	t.Helper()
	g, err := store.InsertGeneration(b.ctx, b.pool, store.InsertGenerationParams{
		ID: uuid.Must(uuid.NewV7()), Client: client, EndpointID: "fal-ai/fooocus/image-prompt", Input: []byte(`{}`), Priority: 2,
	})
	require.NoError(t, err)
	return g
}

func TestReserveSubmission(t *testing.T) {
	t.Parallel()
	b := setup(t)
	limits := store.InflightLimits{Global: 3, PerClient: 2}

	a1, a2, a3 := b.insertFor(t, "a"), b.insertFor(t, "a"), b.insertFor(t, "a")
	c1, c2 := b.insertFor(t, "c"), b.insertFor(t, "c")
	require.NoError(t, b.reserve(t, b.pool, a1, limits))
	require.NoError(t, b.reserve(t, b.pool, a2, limits))
	require.ErrorIs(t, b.reserve(t, b.pool, a3, limits), store.ErrClientInflightLimit)
	require.NoError(t, b.reserve(t, b.pool, c1, limits))
	require.ErrorIs(t, b.reserve(t, b.pool, c2, limits), store.ErrInflightLimit)

	got, err := store.GetGeneration(b.ctx, b.pool, c2.ID)
	require.NoError(t, err)
	require.Zero(t, got.Attempts, "a refused reservation changes nothing")
	require.Zero(t, got.FalSubmissions)

	// A submission fal refused frees its slot; so does a finished generation.
	require.NoError(t, store.RecordSubmitRefused(b.ctx, b.pool, a1.ID, "fal_unavailable", "HTTP 503"))
	require.NoError(t, b.reserve(t, b.pool, c2, limits))
	_, err = store.Fail(b.ctx, b.pool, a2.ID, "x", "y")
	require.NoError(t, err)
	require.NoError(t, b.reserve(t, b.pool, a3, limits))

	// A generation already in flight (submitted again after an unknown
	// outcome) does not count against itself.
	require.NoError(t, store.RecordSubmitError(b.ctx, b.pool, a3.ID, "fal_unreachable", "EOF"))
	require.NoError(t, b.reserve(t, b.pool, a3, limits))
	got, err = store.GetGeneration(b.ctx, b.pool, a3.ID)
	require.NoError(t, err)
	require.Equal(t, 2, got.FalSubmissions)
}

// Reservations from many connections at once never exceed the cap: each
// takes a slot row, and a slot has one holder whichever process claims it.
func TestReserveSubmissionConcurrently(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const n, limit = 24, 5
	gens := make([]*store.Generation, n)
	for i := range gens {
		gens[i] = b.insertFor(t, "tests")
	}
	other, err := pgxpool.New(b.ctx, b.pool.Config().ConnString())
	require.NoError(t, err)
	t.Cleanup(other.Close)

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		reserved int
		start    = make(chan struct{})
	)
	for i, gen := range gens {
		pool := b.pool
		if i%2 == 1 {
			pool = other
		}
		wg.Go(func() {
			<-start
			err := b.reserve(t, pool, gen, store.InflightLimits{Global: limit})
			if !errors.Is(err, store.ErrInflightLimit) {
				require.NoError(t, err)
				mu.Lock()
				reserved++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	require.Equal(t, limit, reserved)

	var inflight int
	require.NoError(t, b.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM generations WHERE finished_at IS NULL AND fal_submissions > 0`).Scan(&inflight))
	require.Equal(t, limit, inflight)
}

// Every way a generation stops being in flight frees its slots, through
// the trigger of migration 000016 rather than each caller.
func TestInflightSlotReleased(t *testing.T) {
	t.Parallel()
	limits := store.InflightLimits{Global: 1, PerClient: 1}

	for _, tc := range []struct {
		name    string
		release func(b *testBundle, t *testing.T, id uuid.UUID)
	}{
		{"completed", func(b *testBundle, t *testing.T, id uuid.UUID) {
			require.True(t, b.complete(t, id, store.Completion{FalRequestID: "req-1"}))
		}},
		{"failed", func(b *testBundle, t *testing.T, id uuid.UUID) {
			_, err := store.Fail(b.ctx, b.pool, id, store.ErrorCodeFalError, "boom")
			require.NoError(t, err)
		}},
		{"cancelled", func(b *testBundle, t *testing.T, id uuid.UUID) {
			_, err := store.Cancel(b.ctx, b.pool, id, "by the client")
			require.NoError(t, err)
		}},
		{"refused by fal", func(b *testBundle, t *testing.T, id uuid.UUID) {
			require.NoError(t, store.RecordSubmitRefused(b.ctx, b.pool, id, "fal_rate_limited", "HTTP 429"))
		}},
		{"deleted", func(b *testBundle, t *testing.T, id uuid.UUID) {
			// In flight: only the override deletes it (migration 000028).
			b.deleteGeneration(t, id, true)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			first, second := b.insertFor(t, "a"), b.insertFor(t, "a")
			require.NoError(t, b.reserve(t, b.pool, first, limits))
			require.ErrorIs(t, b.reserve(t, b.pool, second, limits), store.ErrInflightLimit)

			tc.release(b, t, first.ID)
			require.NoError(t, b.reserve(t, b.pool, second, limits))
		})
	}
}

// Slots are created when a cap first needs them, so raising a cap takes
// effect at once, and a process with a lower cap uses only its own share.
func TestInflightSlotsFollowTheCap(t *testing.T) {
	t.Parallel()
	b := setup(t)
	gens := []*store.Generation{b.insertFor(t, "a"), b.insertFor(t, "a"), b.insertFor(t, "a")}

	require.NoError(t, b.reserve(t, b.pool, gens[0], store.InflightLimits{Global: 1}))
	require.ErrorIs(t, b.reserve(t, b.pool, gens[1], store.InflightLimits{Global: 1}), store.ErrInflightLimit)
	require.NoError(t, b.reserve(t, b.pool, gens[1], store.InflightLimits{Global: 2}))
	require.ErrorIs(t, b.reserve(t, b.pool, gens[2], store.InflightLimits{Global: 2}), store.ErrInflightLimit)
	require.ErrorIs(t, b.reserve(t, b.pool, gens[2], store.InflightLimits{Global: 1}), store.ErrInflightLimit)

	var slots, held int
	require.NoError(t, b.pool.QueryRow(b.ctx,
		`SELECT count(*), count(generation_id) FROM inflight_slots WHERE scope = ''`).Scan(&slots, &held))
	require.Equal(t, [2]int{2, 2}, [2]int{slots, held})
}

func TestSubmissionAccounting(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insert(t, "")
	counts := func() (submissions, confirmed int) {
		t.Helper()
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT fal_submissions, fal_submissions_confirmed FROM generations WHERE id = $1`, g.ID).
			Scan(&submissions, &confirmed))
		return submissions, confirmed
	}

	_, err := store.MarkSubmitting(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	s, c := counts()
	require.Equal(t, [2]int{1, 0}, [2]int{s, c}, "counted before fal is called")

	require.NoError(t, store.RecordSubmitRefused(b.ctx, b.pool, g.ID, "fal_rate_limited", "HTTP 429"))
	s, c = counts()
	require.Equal(t, [2]int{0, 0}, [2]int{s, c}, "uncounted when fal's answer proves nothing was queued")

	_, err = store.MarkSubmitting(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	require.NoError(t, store.RecordSubmitError(b.ctx, b.pool, g.ID, "fal_unreachable", "EOF"))
	s, c = counts()
	require.Equal(t, [2]int{1, 0}, [2]int{s, c}, "kept when fal may have accepted it")

	// A webhook revealed the request and fal confirmed it: adopting it
	// confirms the submission, counting nothing more.
	require.NoError(t, store.NoteWebhook(b.ctx, b.pool, g.ID, "req-1"))
	gen, err := store.AdoptSubmission(b.ctx, b.pool, g.ID, store.Submission{RequestID: "req-1", StatusURL: "s", ResponseURL: "r", CancelURL: "c"})
	require.NoError(t, err)
	require.Equal(t, store.StatusSubmitted, gen.Status)
	require.Equal(t, "req-1", *gen.FalRequestID)
	require.Nil(t, gen.ErrorCode)
	s, c = counts()
	require.Equal(t, [2]int{1, 1}, [2]int{s, c})
}
