package store_test

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

func (b *testBundle) insertWithCallback(t *testing.T, callbackURL string) *store.Generation {
	t.Helper()
	g, err := store.InsertGeneration(b.ctx, b.pool, store.InsertGenerationParams{
		ID:          uuid.Must(uuid.NewV7()),
		Client:      "tests",
		EndpointID:  "fal-ai/fooocus/image-prompt",
		Input:       json.RawMessage(`{"prompt":"a cat"}`),
		Priority:    2,
		CallbackURL: callbackURL,
	})
	require.NoError(t, err)
	return g
}

func (b *testBundle) owedCallbacks(t *testing.T, generationID uuid.UUID) []string {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, `SELECT url FROM callback_deliveries WHERE generation_id = $1`, generationID)
	require.NoError(t, err)
	urls, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return urls
}

// Whatever finishes a generation that has a callback_url, a callback is
// owed from the same transaction on, once.
func TestFinishingOwesCallback(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		finish func(b *testBundle, t *testing.T, id uuid.UUID)
	}{
		{"complete", func(b *testBundle, t *testing.T, id uuid.UUID) {
			b.complete(t, id, store.Completion{FalRequestID: "req"})
		}},
		{"fail", func(b *testBundle, t *testing.T, id uuid.UUID) {
			_, err := store.Fail(b.ctx, b.pool, id, "fal_rejected", "no")
			require.NoError(t, err)
		}},
		{"cancel", func(b *testBundle, t *testing.T, id uuid.UUID) {
			_, err := store.Cancel(b.ctx, b.pool, id, "cancelled by caller")
			require.NoError(t, err)
		}},
		{"by hand in SQL", func(b *testBundle, t *testing.T, id uuid.UUID) {
			_, err := b.pool.Exec(b.ctx, `UPDATE generations SET status = 'cancelled', finished_at = now() WHERE id = $1`, id)
			require.NoError(t, err)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			g := b.insertWithCallback(t, "https://hooks.example.com/easel")
			without := b.insertWithCallback(t, "")

			tt.finish(b, t, g.ID)
			tt.finish(b, t, without.ID)
			require.Equal(t, []string{"https://hooks.example.com/easel"}, b.owedCallbacks(t, g.ID))
			require.Empty(t, b.owedCallbacks(t, without.ID))

			// A second finishing call changes nothing, so owes nothing more.
			_, err := store.Fail(b.ctx, b.pool, g.ID, "again", "again")
			require.NoError(t, err)
			require.Len(t, b.owedCallbacks(t, g.ID), 1)
		})
	}
}

func TestFinishRolledBackOwesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insertWithCallback(t, "https://hooks.example.com/easel")

	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	_, err = store.Fail(b.ctx, tx, g.ID, "x", "y")
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(b.ctx))
	require.Empty(t, b.owedCallbacks(t, g.ID))
}

func TestClaimOwedCallbacks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var ids []uuid.UUID
	for range 3 {
		g := b.insertWithCallback(t, "https://hooks.example.com/easel")
		_, err := store.Fail(b.ctx, b.pool, g.ID, "x", "y")
		require.NoError(t, err)
		ids = append(ids, g.ID)
	}

	first, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer first.Rollback(b.ctx) //nolint:errcheck // rolled back on purpose when not committed
	claimed, err := store.ClaimOwedCallbacks(b.ctx, first, 2)
	require.NoError(t, err)
	require.Len(t, claimed, 2)
	require.Equal(t, ids[0], claimed[0].GenerationID, "oldest first")
	require.Equal(t, ids[1], claimed[1].GenerationID)

	// Another process skips the rows the first holds.
	second, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer second.Rollback(b.ctx) //nolint:errcheck // never committed
	others, err := store.ClaimOwedCallbacks(b.ctx, second, 10)
	require.NoError(t, err)
	require.Len(t, others, 1)
	require.Equal(t, ids[2], others[0].GenerationID)

	require.NoError(t, store.SetCallbackJobs(b.ctx, first, []uuid.UUID{claimed[0].ID, claimed[1].ID}, []int64{41, 42}))
	require.NoError(t, first.Commit(b.ctx))
	require.NoError(t, second.Rollback(b.ctx))

	d, err := store.GetCallbackDelivery(b.ctx, b.pool, claimed[1].ID)
	require.NoError(t, err)
	require.Equal(t, int64(42), *d.JobID)
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer tx.Rollback(b.ctx) //nolint:errcheck // read only
	left, err := store.ClaimOwedCallbacks(b.ctx, tx, 10)
	require.NoError(t, err)
	require.Len(t, left, 1, "only the delivery without a job is still owed")

	require.ErrorContains(t, store.SetCallbackJobs(b.ctx, b.pool, ids, []int64{1}), "3 deliveries but 1 jobs")
}

func TestGetCallbackDeliveryNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := store.GetCallbackDelivery(b.ctx, b.pool, uuid.New())
	require.ErrorIs(t, err, store.ErrNotFound)
}
