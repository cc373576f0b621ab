package store_test

import (
	"context"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// globalSlotHolders returns the generations holding slots of FAL_MAX_INFLIGHT.
func (b *testBundle) globalSlotHolders(t *testing.T) []uuid.UUID {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, `SELECT generation_id FROM inflight_slots WHERE scope = '' AND generation_id IS NOT NULL ORDER BY slot`)
	require.NoError(t, err)
	var ids []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	return ids
}

func TestReserveFirstSubmission(t *testing.T) {
	t.Parallel()

	global := store.InflightLimits{Global: 2}
	// createSlots makes the cap's slots exist, as the first reservation
	// through ReserveSubmission does.
	createSlots := func(b *testBundle, t *testing.T, _ *store.Generation) {
		t.Helper()
		warm := b.insertFor(t, "warm")
		require.NoError(t, b.reserve(t, b.pool, warm, global))
		_, err := store.Fail(b.ctx, b.pool, warm.ID, "x", "frees its slot")
		require.NoError(t, err)
	}

	for _, tc := range []struct {
		name    string
		limits  store.InflightLimits
		prepare func(b *testBundle, t *testing.T, gen *store.Generation)
		// reserved: the fast path marked the generation and holds a slot
		// for it; otherwise it changed nothing and the caller must decide.
		reserved bool
	}{
		{"queued, never submitted", global, createSlots, true},
		{"slots not created yet", global, func(*testBundle, *testing.T, *store.Generation) {}, false},
		{"per-client cap on", store.InflightLimits{Global: 2, PerClient: 1}, createSlots, false},
		{"all slots taken", global, func(b *testBundle, t *testing.T, _ *store.Generation) {
			require.NoError(t, b.reserve(t, b.pool, b.insertFor(t, "other"), global))
			require.NoError(t, b.reserve(t, b.pool, b.insertFor(t, "other"), global))
		}, false},
		{"submitted before", global, func(b *testBundle, t *testing.T, gen *store.Generation) {
			createSlots(b, t, gen)
			_, err := store.MarkSubmitting(b.ctx, b.pool, gen.ID)
			require.NoError(t, err)
		}, false},
		{"request named by a webhook", global, func(b *testBundle, t *testing.T, gen *store.Generation) {
			createSlots(b, t, gen)
			require.NoError(t, store.NoteWebhook(b.ctx, b.pool, gen.ID, "req-from-webhook"))
		}, false},
		{"cancelled", global, func(b *testBundle, t *testing.T, gen *store.Generation) {
			createSlots(b, t, gen)
			_, err := store.Cancel(b.ctx, b.pool, gen.ID, "by the client")
			require.NoError(t, err)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			gen := b.insertFor(t, "tests")
			tc.prepare(b, t, gen)
			before, err := store.GetGeneration(b.ctx, b.pool, gen.ID)
			require.NoError(t, err)
			holdersBefore := b.globalSlotHolders(t)

			got, err := store.ReserveFirstSubmission(b.ctx, b.pool, gen.ID, tc.limits)
			require.NoError(t, err)

			after, err := store.GetGeneration(b.ctx, b.pool, gen.ID)
			require.NoError(t, err)
			if !tc.reserved {
				require.Nil(t, got)
				require.Equal(t, before, after, "nothing changed")
				require.Equal(t, holdersBefore, b.globalSlotHolders(t), "no slot claimed")
				return
			}
			require.NotNil(t, got)
			require.Equal(t, after, got, "returns the generation as marked")
			require.Equal(t, store.StatusQueued, got.Status)
			require.Equal(t, 1, got.Attempts)
			require.Equal(t, 1, got.FalSubmissions)
			require.NotNil(t, got.SubmittingAt)
			require.JSONEq(t, `{}`, string(got.Input), "carries the input to submit")
			require.Equal(t, []uuid.UUID{gen.ID}, b.globalSlotHolders(t))
		})
	}
}

// The one-statement reservation keeps the cap under concurrency, from two
// pools as from two processes, and together with the general path.
func TestReserveFirstSubmissionConcurrently(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const n, limit = 24, 5
	limits := store.InflightLimits{Global: limit}
	// The general path creates the slots; the fast path then competes for them.
	first := b.insertFor(t, "tests")
	require.NoError(t, b.reserve(t, b.pool, first, limits))
	other, err := pgxpool.New(b.ctx, b.pool.Config().ConnString())
	require.NoError(t, err)
	t.Cleanup(other.Close)

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		reserved = 1
		start    = make(chan struct{})
	)
	for i := range n {
		gen := b.insertFor(t, "tests")
		pool := b.pool
		if i%2 == 1 {
			pool = other
		}
		wg.Go(func() {
			<-start
			got, err := store.ReserveFirstSubmission(b.ctx, pool, gen.ID, limits)
			require.NoError(t, err)
			if got != nil {
				mu.Lock()
				reserved++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	require.LessOrEqual(t, reserved, limit)
	require.Greater(t, reserved, 1, "some reservations took the fast path")

	var inflight, held int
	require.NoError(t, b.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM generations WHERE finished_at IS NULL AND fal_submissions > 0`).Scan(&inflight))
	require.NoError(t, b.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM inflight_slots WHERE scope = '' AND generation_id IS NOT NULL`).Scan(&held))
	require.Equal(t, reserved, inflight)
	require.Equal(t, reserved, held, "every generation in flight holds exactly one slot")
}
