package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/metricstest"
	"github.com/easelhq/easel/metrics"
	"github.com/easelhq/easel/store"
)

type testBundle struct {
	ctx     context.Context
	pool    *pgxpool.Pool
	metrics *metrics.Metrics
	logs    *bytes.Buffer
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	pool := dbtest.Pool(t)
	logs := &bytes.Buffer{}
	return &testBundle{
		ctx:     context.Background(),
		pool:    pool,
		metrics: metrics.New(pool, metrics.Config{MaxInflight: 7, Logger: slog.New(slog.NewJSONHandler(logs, nil))}),
		logs:    logs,
	}
}

func (b *testBundle) insert(t *testing.T) *store.Generation {
	t.Helper()
	g, err := store.InsertGeneration(b.ctx, b.pool, store.InsertGenerationParams{
		ID: uuid.Must(uuid.NewV7()), Client: "tests", EndpointID: "fal-ai/fooocus/image-prompt",
		Input: json.RawMessage(`{}`), Priority: 2,
	})
	require.NoError(t, err)
	return g
}

func TestDatabaseGauges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.insert(t)
	b.insert(t)
	inflight := b.insert(t)
	_, err := b.pool.Exec(b.ctx, `UPDATE generations SET status = 'submitted', fal_submissions = 1 WHERE id = $1`, inflight.ID)
	require.NoError(t, err)
	failed := b.insert(t)
	_, err = store.Fail(b.ctx, b.pool, failed.ID, "x", "y")
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `
		INSERT INTO river_job (args, kind, max_attempts, queue, state)
		VALUES ('{}', 'submit_generation', 1, 'default', 'available'), ('{}', 'callback_delivery', 1, 'callbacks', 'retryable')`)
	require.NoError(t, err)

	s := metricstest.Scrape(t, b.metrics.Handler())
	for series, want := range map[string]float64{
		`easel_generations{status="queued"}`:                    2,
		`easel_generations{status="submitted"}`:                 1,
		`easel_generations{status="completed"}`:                 0,
		`easel_generations{status="failed"}`:                    1,
		`easel_generations{status="cancelled"}`:                 0,
		`easel_generations_in_flight`:                           1,
		`easel_generations_in_flight_limit`:                     7,
		`easel_river_jobs{queue="default",state="available"}`:   1,
		`easel_river_jobs{queue="callbacks",state="retryable"}`: 1,
	} {
		require.Contains(t, s, series)
		require.Equal(t, want, s[series], series)
	}
	require.Contains(t, s, "go_goroutines", "Go runtime metrics are there too")
}

func TestObservedMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := b.metrics

	s := metricstest.Scrape(t, m.Handler())
	require.Equal(t, 0.0, s[`easel_webhooks_received_total{outcome="unknown_generation"}`], "known outcomes start at 0")
	require.Contains(t, s, `easel_webhooks_received_total{outcome="mismatched_request"}`, "known outcomes start at 0")
	require.Equal(t, 0.0, s[`easel_callbacks_total{outcome="delivered"}`])

	m.WebhookReceived(store.OutcomeApplied)
	m.WebhookReceived(store.OutcomeApplied)
	m.WebhookReceived(store.OutcomeBadSignature)
	m.WebhookReceived(metrics.OutcomeUnknownGeneration)
	m.CallbackAttempted(metrics.CallbackRetrying)
	m.CallbackAttempted(metrics.CallbackDelivered)

	created := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	runAt, completed := created.Add(time.Minute), created.Add(time.Minute+3*time.Second)
	m.GenerationCompleted(&store.Generation{CreatedAt: created, RunAt: &runAt, CompletedAt: &completed})
	m.GenerationCompleted(&store.Generation{CreatedAt: created}) // not completed: ignored

	mw := m.WorkerMiddleware()
	require.NoError(t, mw.Work(b.ctx, &rivertype.JobRow{Kind: "submit_generation"}, func(context.Context) error { return nil }))
	boom := errors.New("boom")
	require.ErrorIs(t, mw.Work(b.ctx, &rivertype.JobRow{Kind: "submit_generation"}, func(context.Context) error { return boom }), boom)
	require.Error(t, mw.Work(b.ctx, &rivertype.JobRow{Kind: "callback_delivery"}, func(context.Context) error { return river.JobCancel(boom) }))

	s = metricstest.Scrape(t, m.Handler())
	for series, want := range map[string]float64{
		`easel_webhooks_received_total{outcome="applied"}`:                                  2,
		`easel_webhooks_received_total{outcome="bad_signature"}`:                            1,
		`easel_webhooks_received_total{outcome="unknown_generation"}`:                       1,
		`easel_webhooks_received_total{outcome="duplicate"}`:                                0,
		`easel_callbacks_total{outcome="retrying"}`:                                         1,
		`easel_callbacks_total{outcome="delivered"}`:                                        1,
		`easel_generation_time_to_complete_seconds_count`:                                   1,
		`easel_generation_time_to_complete_seconds_sum`:                                     3, // from run_at, not from creation
		`easel_generation_time_to_complete_seconds_bucket{le="2"}`:                          0,
		`easel_generation_time_to_complete_seconds_bucket{le="5"}`:                          1,
		`easel_job_duration_seconds_count{kind="submit_generation",result="ok"}`:            1,
		`easel_job_duration_seconds_count{kind="submit_generation",result="error"}`:         1,
		`easel_job_duration_seconds_count{kind="callback_delivery",result="cancelled"}`:     1,
		`easel_job_duration_seconds_bucket{kind="submit_generation",result="ok",le="+Inf"}`: 1,
	} {
		require.Contains(t, s, series)
		require.Equal(t, want, s[series], series)
	}
}

// A scrape while the database is down still serves what the process
// counted, and logs what it could not read.
func TestScrapeWithDatabaseDown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.metrics.WebhookReceived(store.OutcomeApplied)
	b.pool.Close()

	s := metricstest.Scrape(t, b.metrics.Handler())
	require.Equal(t, 1.0, s[`easel_webhooks_received_total{outcome="applied"}`])
	require.NotContains(t, s, `easel_generations{status="queued"}`)
	logged, err := io.ReadAll(b.logs)
	require.NoError(t, err)
	require.Contains(t, string(logged), "closed pool")
}

func TestNilMetricsDoNothing(t *testing.T) {
	t.Parallel()
	var m *metrics.Metrics
	m.WebhookReceived(store.OutcomeApplied)
	m.CallbackAttempted(metrics.CallbackDelivered)
	m.GenerationCompleted(&store.Generation{})
	called := false
	require.NoError(t, m.WorkerMiddleware().Work(context.Background(), &rivertype.JobRow{}, func(context.Context) error {
		called = true
		return nil
	}))
	require.True(t, called)
}
