package metrics_test

import (
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/metricstest"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

const callbackAge = `easel_callback_oldest_unfinished_seconds`

// callbackStates is each series of easel_callback_deliveries.
func callbackStates(owed, pending, delivered, abandoned float64) map[string]float64 {
	return map[string]float64{
		`easel_callback_deliveries{state="owed"}`:      owed,
		`easel_callback_deliveries{state="pending"}`:   pending,
		`easel_callback_deliveries{state="delivered"}`: delivered,
		`easel_callback_deliveries{state="abandoned"}`: abandoned,
	}
}

func requireSeries(t *testing.T, s, want map[string]float64) {
	t.Helper()
	for series, v := range want {
		require.Contains(t, s, series)
		require.Equal(t, v, s[series], series)
	}
}

// finishedWithCallback finishes a generation that has a callback_url, so
// that its callback is owed, and returns the delivery's id.
func (b *testBundle) finishedWithCallback(t *testing.T) uuid.UUID {
	t.Helper()
	g, err := store.InsertGeneration(b.ctx, b.pool, store.InsertGenerationParams{
		ID: uuid.Must(uuid.NewV7()), Client: "tests", EndpointID: "fal-ai/fooocus/image-prompt",
		Input: json.RawMessage(`{}`), Priority: 2, CallbackURL: "https://receiver.example/easel",
	})
	require.NoError(t, err)
	_, err = store.Fail(b.ctx, b.pool, g.ID, "x", "y")
	require.NoError(t, err)
	var id uuid.UUID
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT id FROM callback_deliveries WHERE generation_id = $1`, g.ID).Scan(&id))
	return id
}

// attempt records an attempt at delivery id by its job, as the callback
// worker does.
func (b *testBundle) attempt(t *testing.T, id uuid.UUID, a store.CallbackAttempt) {
	t.Helper()
	d, err := store.GetCallbackDelivery(b.ctx, b.pool, id)
	require.NoError(t, err)
	require.NotNil(t, d.JobID)
	started, err := store.StartCallbackAttempt(b.ctx, b.pool, id, *d.JobID)
	require.NoError(t, err)
	require.True(t, started)
	require.NoError(t, store.FinishCallbackAttempt(b.ctx, b.pool, id, a))
}

// Callbacks are counted from Postgres by state, whichever process holds
// them or none: owed ones that no worker process has given a job (which
// easel_river_jobs cannot see), those being tried, delivered, abandoned;
// and the oldest not ended is what an alert on late callbacks reads.
func TestCallbackDeliveriesGauges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := metricstest.Scrape(t, b.metrics.Handler())
	requireSeries(t, s, callbackStates(0, 0, 0, 0))
	requireSeries(t, s, map[string]float64{callbackAge: 0})

	// Owed while no worker process runs: no River job exists for them.
	retrying, delivered, abandoned, last := b.finishedWithCallback(t), b.finishedWithCallback(t), b.finishedWithCallback(t), b.finishedWithCallback(t)
	_, err := b.pool.Exec(b.ctx, `UPDATE callback_deliveries SET created_at = now() - interval '40 minutes' WHERE id = $1`, retrying)
	require.NoError(t, err)
	b.nextDatabaseRead()
	s = metricstest.Scrape(t, b.metrics.Handler())
	requireSeries(t, s, callbackStates(4, 0, 0, 0))
	requireSeries(t, s, map[string]float64{`easel_river_jobs{queue="callbacks",state="available"}`: 0})
	require.GreaterOrEqual(t, s[callbackAge], (40 * time.Minute).Seconds())
	require.Less(t, s[callbackAge], (41 * time.Minute).Seconds())

	// A worker process's dispatcher gives each a job.
	client, err := river.NewClient(riverpgxv5.New(b.pool), &river.Config{})
	require.NoError(t, err)
	n, err := jobs.NewCallbackDispatcher(b.pool, client, slog.New(slog.DiscardHandler)).Dispatch(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 4, n)
	b.nextDatabaseRead()
	s = metricstest.Scrape(t, b.metrics.Handler())
	requireSeries(t, s, callbackStates(0, 4, 0, 0))
	requireSeries(t, s, map[string]float64{`easel_river_jobs{queue="callbacks",state="available"}`: 4})

	// The receiver is down for one, takes one, refuses one for good.
	b.attempt(t, retrying, store.CallbackAttempt{Status: 503, Error: "503 Service Unavailable"})
	b.attempt(t, delivered, store.CallbackAttempt{Status: 200, Delivered: true})
	b.attempt(t, abandoned, store.CallbackAttempt{Status: 410, Error: "410 Gone", Abandoned: true})
	b.nextDatabaseRead()
	s = metricstest.Scrape(t, b.metrics.Handler())
	requireSeries(t, s, callbackStates(0, 2, 1, 1))
	require.GreaterOrEqual(t, s[callbackAge], (40 * time.Minute).Seconds(), "the one still being retried")

	b.attempt(t, retrying, store.CallbackAttempt{Status: 200, Delivered: true})
	b.attempt(t, last, store.CallbackAttempt{Status: 200, Delivered: true})
	b.nextDatabaseRead()
	s = metricstest.Scrape(t, b.metrics.Handler())
	requireSeries(t, s, callbackStates(0, 0, 3, 1))
	requireSeries(t, s, map[string]float64{callbackAge: 0, `easel_database_up`: 1})
}

// Callbacks that cannot be read go missing, with easel_database_up 0,
// rather than read 0 to an alert; the other gauges are still reported.
func TestCallbackDeliveriesGaugesUnreadable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.pool.Exec(b.ctx, `ALTER TABLE callback_deliveries RENAME TO callback_deliveries_away`)
	require.NoError(t, err)

	s := metricstest.Scrape(t, b.metrics.Handler())
	requireSeries(t, s, map[string]float64{`easel_database_up`: 0, `easel_generations{status="queued"}`: 0})
	for series := range callbackStates(0, 0, 0, 0) {
		require.NotContains(t, s, series)
	}
	require.NotContains(t, s, callbackAge)
	require.Contains(t, b.logs.String(), "count callback deliveries")
}
