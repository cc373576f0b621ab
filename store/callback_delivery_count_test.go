package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// owedCallback finishes a generation that has a callback_url, which owes
// its callback (a trigger writes the row), and dates the row age ago.
func (b *testBundle) owedCallback(t *testing.T, age string) uuid.UUID {
	t.Helper()
	g, err := store.InsertGeneration(b.ctx, b.pool, store.InsertGenerationParams{
		ID: uuid.Must(uuid.NewV7()), Client: "tests", EndpointID: "fal-ai/fooocus/image-prompt",
		Input: json.RawMessage(`{}`), Priority: 2, CallbackURL: "https://receiver.example/easel",
	})
	require.NoError(t, err)
	finished, err := store.Fail(b.ctx, b.pool, g.ID, "x", "y")
	require.NoError(t, err)
	require.True(t, finished)
	var id uuid.UUID
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		UPDATE callback_deliveries SET created_at = now() - $2::interval WHERE generation_id = $1 RETURNING id`,
		g.ID, age).Scan(&id))
	return id
}

// callbackJob gives delivery id a River job in state, as the dispatcher
// would (same kind, queue and args).
func (b *testBundle) callbackJob(t *testing.T, id uuid.UUID, state string) int64 {
	t.Helper()
	var jobID int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		INSERT INTO river_job (args, kind, max_attempts, queue, state, finalized_at)
		VALUES (jsonb_build_object('delivery_id', $1::uuid, 'generation_id', gen_random_uuid()), 'callback_delivery', 11, 'callbacks',
			$2::river_job_state, CASE WHEN $2::river_job_state IN ('completed', 'cancelled', 'discarded') THEN now() END)
		RETURNING id`, id, state).Scan(&jobID))
	require.NoError(t, store.SetCallbackJobs(b.ctx, b.pool, []uuid.UUID{id}, []int64{jobID}))
	return jobID
}

// endedCallbacks writes n deliveries that ended long ago, one in a hundred
// abandoned and the rest delivered, whose River jobs River has since
// deleted, and analyzes the table: a long history beside the few under way.
func (b *testBundle) endedCallbacks(t *testing.T, n int) {
	t.Helper()
	_, err := b.pool.Exec(b.ctx, `
		INSERT INTO generations (id, client, status, endpoint_id, input, created_at, finished_at, callback_url)
		SELECT gen_random_uuid(), 'c', 'failed', 'fal-ai/fooocus/image-prompt', '{}', now() - interval '30 days', now() - interval '30 days',
			'https://receiver.example/easel'
		FROM generate_series(1, $1::int)`, n)
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `
		INSERT INTO callback_deliveries (generation_id, url, created_at, job_id, attempts, delivered_at, abandoned_at)
		SELECT id, callback_url, finished_at, 1000000000 + i, 1, CASE WHEN i % 100 <> 0 THEN finished_at END, CASE WHEN i % 100 = 0 THEN finished_at END
		FROM (SELECT id, callback_url, finished_at, row_number() OVER () AS i FROM generations WHERE client = 'c') g`)
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `ANALYZE callback_deliveries`)
	require.NoError(t, err)
}

func TestCountCallbackDeliveries(t *testing.T) {
	t.Parallel()
	within := func(t *testing.T, want, got time.Duration) {
		t.Helper()
		// The database's clock moves on while the test runs.
		require.GreaterOrEqual(t, got, want)
		require.Less(t, got, want+time.Minute)
	}

	for _, tc := range []struct {
		name       string
		exactBelow float64
	}{
		{name: "exact below the threshold", exactBelow: 1e5},
		// ANALYZE reads every row of a table this small, so the ended
		// counts estimated from its statistics are exact here too.
		{name: "read through the index of deliveries not ended above it", exactBelow: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			_, err := b.pool.Exec(b.ctx, `ANALYZE callback_deliveries`)
			require.NoError(t, err)
			counts, err := store.CountCallbackDeliveries(b.ctx, b.pool, tc.exactBelow)
			require.NoError(t, err)
			require.Equal(t, store.CallbackDeliveryCounts{}, counts, "none reads 0")

			b.owedCallback(t, "10 minutes")
			b.callbackJob(t, b.owedCallback(t, "2 hours"), "available")
			retrying := b.owedCallback(t, "30 minutes")
			retryingJob := b.callbackJob(t, retrying, "retryable")
			started, err := store.StartCallbackAttempt(b.ctx, b.pool, retrying, retryingJob)
			require.NoError(t, err)
			require.True(t, started)
			require.NoError(t, store.FinishCallbackAttempt(b.ctx, b.pool, retrying, store.CallbackAttempt{Status: 503, Error: "503"}))
			// Its job completed without ending it; the dispatcher's sweep
			// has yet to abandon it.
			b.callbackJob(t, b.owedCallback(t, "1 day"), "completed")
			// Its job was deleted (River UI): pending too, until the sweep.
			deletedJob := b.callbackJob(t, b.owedCallback(t, "2 days"), "available")
			_, err = b.pool.Exec(b.ctx, `DELETE FROM river_job WHERE id = $1`, deletedJob)
			require.NoError(t, err)
			delivered := b.owedCallback(t, "3 days")
			b.callbackJob(t, delivered, "completed")
			require.NoError(t, store.FinishCallbackAttempt(b.ctx, b.pool, delivered, store.CallbackAttempt{Status: 200, Delivered: true}))
			abandoned := b.owedCallback(t, "5 days")
			b.callbackJob(t, abandoned, "cancelled")
			require.NoError(t, store.FinishCallbackAttempt(b.ctx, b.pool, abandoned, store.CallbackAttempt{Status: 410, Error: "410", Abandoned: true}))
			// A job inserted by hand on the callbacks queue, with args no
			// delivery has, is no delivery: counted nowhere.
			_, err = b.pool.Exec(b.ctx, `
				INSERT INTO river_job (args, kind, max_attempts, queue, state)
				VALUES ('{"delivery_id": "not-a-uuid"}', 'callback_delivery', 1, 'callbacks', 'available'),
					('{}', 'callback_delivery', 1, 'callbacks', 'available')`)
			require.NoError(t, err)
			_, err = b.pool.Exec(b.ctx, `ANALYZE callback_deliveries`)
			require.NoError(t, err)

			counts, err = store.CountCallbackDeliveries(b.ctx, b.pool, tc.exactBelow)
			require.NoError(t, err)
			within(t, 48*time.Hour, counts.OldestUnfinished) // the delivery whose job was deleted
			counts.OldestUnfinished = 0
			require.Equal(t, store.CallbackDeliveryCounts{Owed: 1, Pending: 4, Delivered: 1, Abandoned: 1}, counts)
		})
	}
}

// A delivery asked for again (docs/CALLBACKS.md's SQL) is owed once more, no longer
// delivered, and counts its age from when it was first owed.
func TestCountCallbackDeliveriesAskedForAgain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.owedCallback(t, "2 days")
	b.callbackJob(t, id, "completed")
	require.NoError(t, store.FinishCallbackAttempt(b.ctx, b.pool, id, store.CallbackAttempt{Status: 200, Delivered: true}))
	counts, err := store.CountCallbackDeliveries(b.ctx, b.pool, 1e5)
	require.NoError(t, err)
	require.Equal(t, store.CallbackDeliveryCounts{Delivered: 1}, counts)

	_, err = b.pool.Exec(b.ctx, `UPDATE callback_deliveries SET job_id = NULL, abandoned_at = NULL, delivered_at = NULL WHERE id = $1`, id)
	require.NoError(t, err)
	counts, err = store.CountCallbackDeliveries(b.ctx, b.pool, 1e5)
	require.NoError(t, err)
	require.GreaterOrEqual(t, counts.OldestUnfinished, 48*time.Hour)
	counts.OldestUnfinished = 0
	require.Equal(t, store.CallbackDeliveryCounts{Owed: 1}, counts)
}

// On a big table the scrape reads the deliveries not ended through their
// index, never the ended history, and still counts each one not ended,
// whatever became of its River job.
func TestCountCallbackDeliveriesReadsIndex(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.endedCallbacks(t, 50000)
	b.owedCallback(t, "1 minute")
	b.callbackJob(t, b.owedCallback(t, "1 minute"), "retryable")
	deletedJob := b.callbackJob(t, b.owedCallback(t, "3 hours"), "available")
	_, err := b.pool.Exec(b.ctx, `DELETE FROM river_job WHERE id = $1`, deletedJob)
	require.NoError(t, err)

	scans, plan := b.scansOf(t, "callback_deliveries", store.CountCallbackDeliveriesIndexedSQL)
	require.Equal(t, []string{"callback_deliveries_unfinished_idx"}, scans, "the deliveries not ended, and only them: %s", plan)

	counts, err := store.CountCallbackDeliveries(b.ctx, b.pool, 1e4)
	require.NoError(t, err)
	require.Equal(t, int64(1), counts.Owed)
	require.Equal(t, int64(2), counts.Pending, "the retrying one, and the one whose job was deleted")
	require.GreaterOrEqual(t, counts.OldestUnfinished, 3*time.Hour)
	require.InDelta(t, 50000, counts.Delivered+counts.Abandoned, 1000, "estimated from the statistics")
}
