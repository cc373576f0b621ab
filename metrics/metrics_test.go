package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/clocktest"
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
	clock   *clocktest.Clock
}

// setup returns Metrics whose readings of the database's gauges age only
// by b.clock: a scrape reads Postgres afresh only after nextDatabaseRead.
func setup(t *testing.T) *testBundle {
	t.Helper()
	pool := dbtest.Pool(t)
	logs := &bytes.Buffer{}
	b := &testBundle{
		ctx:     context.Background(),
		pool:    pool,
		metrics: metrics.New(pool, metrics.Config{MaxInflight: 7, Logger: slog.New(slog.NewJSONHandler(logs, nil))}),
		logs:    logs,
		clock:   clocktest.At(time.Now()),
	}
	b.metrics.SetDatabaseClock(b.clock.Now)
	return b
}

// nextDatabaseRead ages the latest reading of the database's gauges out,
// so that the next scrape reads them afresh.
func (b *testBundle) nextDatabaseRead() {
	b.clock.Advance(metrics.DatabaseReadEvery)
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
		`easel_database_up`:                                     1,
	} {
		require.Contains(t, s, series)
		require.Equal(t, want, s[series], series)
	}
	require.Contains(t, s, "go_goroutines", "Go runtime metrics are there too")
}

// The oldest queued and submitted generations' ages are what an alert on
// stuck generations reads; with none, they read 0 rather than go missing.
func TestOldestUnfinishedGauge(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := metricstest.Scrape(t, b.metrics.Handler())
	for _, status := range []string{"queued", "submitted"} {
		series := `easel_oldest_unfinished_seconds{status="` + status + `"}`
		require.Contains(t, s, series)
		require.Zero(t, s[series], series)
	}

	queued, submitted, finished := b.insert(t), b.insert(t), b.insert(t)
	_, err := b.pool.Exec(b.ctx, `
		UPDATE generations SET created_at = now() - interval '10 minutes' WHERE id = $1;`, queued.ID)
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `
		UPDATE generations SET status = 'submitted', fal_submissions = 1, submitted_at = now() - interval '3 minutes'
		WHERE id = $1`, submitted.ID)
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `UPDATE generations SET created_at = now() - interval '1 day' WHERE id = $1`, finished.ID)
	require.NoError(t, err)
	_, err = store.Fail(b.ctx, b.pool, finished.ID, "x", "y")
	require.NoError(t, err)

	b.nextDatabaseRead()
	s = metricstest.Scrape(t, b.metrics.Handler())
	for series, want := range map[string]float64{
		`easel_oldest_unfinished_seconds{status="queued"}`:    600,
		`easel_oldest_unfinished_seconds{status="submitted"}`: 180,
	} {
		// The database's clock moves on while the test runs.
		require.GreaterOrEqual(t, s[series], want, series)
		require.Less(t, s[series], want+60, series)
	}
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
	m.WebhookReceived(store.OutcomeUnknownGeneration)
	m.CallbackAttempted(metrics.CallbackRetrying)
	m.CallbackAttempted(metrics.CallbackDelivered)

	created := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	runAt, completed := created.Add(time.Minute), created.Add(time.Minute+3*time.Second)
	m.GenerationFinished(&store.Generation{Status: store.StatusCompleted, CreatedAt: created, RunAt: &runAt, CompletedAt: &completed})
	m.GenerationFinished(&store.Generation{Status: store.StatusSubmitted, CreatedAt: created}) // not finished: ignored

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
		`easel_generations_finished_total{error_code="",status="completed"}`:                1,
	} {
		require.Contains(t, s, series)
		require.Equal(t, want, s[series], series)
	}
}

// A finished generation counts under its status and error code, the code
// bounded to the known ones so that fal's free-form error types cannot
// multiply the series; only a completed one has a time to complete.
func TestGenerationsFinished(t *testing.T) {
	t.Parallel()
	m := setup(t).metrics
	code := func(c string) *string { return &c }
	created := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	completed := created.Add(4 * time.Second)

	m.GenerationFinished(&store.Generation{Status: store.StatusCompleted, CreatedAt: created, CompletedAt: &completed})
	m.GenerationFinished(&store.Generation{Status: store.StatusFailed, ErrorCode: code("content_policy_violation")})
	m.GenerationFinished(&store.Generation{Status: store.StatusFailed, ErrorCode: code("greater_than_equal")})
	m.GenerationFinished(&store.Generation{Status: store.StatusFailed, ErrorCode: code("some.new_type")})
	m.GenerationFinished(&store.Generation{Status: store.StatusFailed})
	m.GenerationFinished(&store.Generation{Status: store.StatusCancelled, ErrorCode: code("cancelled")})
	m.GenerationFinished(&store.Generation{Status: store.StatusQueued}) // not finished: ignored
	m.GenerationFailed("timeout")
	m.GenerationFailed("fal_rate_limited")
	m.GenerationFailed("fal_rate_limited")
	m.GenerationFailed("x-" + strings.Repeat("a", 300))

	s := metricstest.Scrape(t, m.Handler())
	for series, want := range map[string]float64{
		`easel_generations_finished_total{error_code="",status="completed"}`:                      1,
		`easel_generations_finished_total{error_code="content_policy_violation",status="failed"}`: 1,
		`easel_generations_finished_total{error_code="other",status="failed"}`:                    4,
		`easel_generations_finished_total{error_code="cancelled",status="cancelled"}`:             1,
		`easel_generations_finished_total{error_code="timeout",status="failed"}`:                  1,
		`easel_generations_finished_total{error_code="fal_rate_limited",status="failed"}`:         2,
		`easel_generations_finished_total{error_code="job_lost",status="failed"}`:                 0,
		`easel_generation_time_to_complete_seconds_count`:                                         1,
		`easel_generation_time_to_complete_seconds_sum`:                                           4,
	} {
		require.Contains(t, s, series)
		require.Equal(t, want, s[series], series)
	}
	require.Len(t, seriesOf(s, "easel_generations_finished_total{"), len(seriesOf(metricstest.Scrape(t, setup(t).metrics.Handler()), "easel_generations_finished_total{")),
		"no series beyond those a fresh process has")
}

func TestErrorCodeLabel(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]string{
		"timeout":                   "timeout",
		"fal_unreachable":           "fal_unreachable",
		"runner_scheduling_failure": "runner_scheduling_failure",
		"":                          "other",
		"value_error.missing":       "other",
		"Timeout":                   "other",
	} {
		require.Equal(t, want, metrics.ErrorCodeLabel(code), code)
	}
}

func TestResultsApplied(t *testing.T) {
	t.Parallel()
	m := setup(t).metrics
	m.ResultApplied(metrics.ResultFromWebhook)
	m.ResultApplied(metrics.ResultFromWebhook)
	m.ResultApplied(metrics.ResultFromReconciler)

	s := metricstest.Scrape(t, m.Handler())
	require.Equal(t, 2.0, s[`easel_results_applied_total{source="webhook"}`])
	require.Equal(t, 1.0, s[`easel_results_applied_total{source="reconciler"}`])
	require.Equal(t, 0.0, s[`easel_results_applied_total{source="cancel"}`])
}

// Every known outcome reads 0 from the first scrape, so that rate() sees an
// outcome's first occurrence and alerts on it need no absent().
func TestFreshScrapeHasEveryOutcomeAtZero(t *testing.T) {
	t.Parallel()
	s := metricstest.Scrape(t, setup(t).metrics.Handler())

	for _, series := range []string{
		`easel_webhooks_received_total{outcome="` + string(store.OutcomeApplied) + `"}`,
		`easel_webhooks_received_total{outcome="` + string(store.OutcomeDuplicate) + `"}`,
		`easel_webhooks_received_total{outcome="` + string(store.OutcomeLate) + `"}`,
		`easel_webhooks_received_total{outcome="` + string(store.OutcomeDeferred) + `"}`,
		`easel_webhooks_received_total{outcome="` + string(store.OutcomeMismatchedRequest) + `"}`,
		`easel_webhooks_received_total{outcome="` + string(store.OutcomeBadSignature) + `"}`,
		`easel_webhooks_received_total{outcome="` + string(store.OutcomeMalformed) + `"}`,
		`easel_webhooks_received_total{outcome="` + string(store.OutcomeUnknownGeneration) + `"}`,
		`easel_webhooks_received_total{outcome="` + string(store.OutcomeDeletedGeneration) + `"}`,
		`easel_callbacks_total{outcome="` + metrics.CallbackDelivered + `"}`,
		`easel_callbacks_total{outcome="` + metrics.CallbackRetrying + `"}`,
		`easel_callbacks_total{outcome="` + metrics.CallbackRejected + `"}`,
		`easel_callbacks_total{outcome="` + metrics.CallbackRefused + `"}`,
		`easel_callbacks_total{outcome="` + metrics.CallbackExhausted + `"}`,
		`easel_webhooks_received_total{outcome="` + metrics.WebhookKeysUnavailable + `"}`,
		`easel_webhooks_received_total{outcome="` + metrics.WebhookNotRecorded + `"}`,
		`easel_webhooks_received_total{outcome="` + metrics.WebhookTooLarge + `"}`,
		`easel_generations_finished_total{error_code="",status="completed"}`,
		`easel_generations_finished_total{error_code="cancelled",status="cancelled"}`,
		`easel_generations_finished_total{error_code="other",status="failed"}`,
		`easel_generations_finished_total{error_code="timeout",status="failed"}`,
		`easel_generations_finished_total{error_code="job_lost",status="failed"}`,
		`easel_generations_finished_total{error_code="result_unavailable",status="failed"}`,
		`easel_generations_finished_total{error_code="fal_rate_limited",status="failed"}`,
		`easel_generations_finished_total{error_code="content_policy_violation",status="failed"}`,
		`easel_results_applied_total{source="webhook"}`,
		`easel_results_applied_total{source="reconciler"}`,
		`easel_results_applied_total{source="cancel"}`,
		`easel_fal_requests_total{operation="submit",result="ok"}`,
		`easel_fal_requests_total{operation="submit",result="rate_limited"}`,
		`easel_fal_requests_total{operation="cancel",result="timeout"}`,
		`easel_fal_requests_total{operation="result",result="not_found"}`,
	} {
		require.Contains(t, s, series)
		require.Equal(t, 0.0, s[series], series)
	}
	require.Len(t, seriesOf(s, "easel_webhooks_received_total{"), 12, "the outcomes README lists, no more")
	require.Len(t, seriesOf(s, "easel_callbacks_total{"), 5)
	require.Len(t, seriesOf(s, "easel_results_applied_total{"), 3)
	require.Len(t, seriesOf(s, "easel_fal_requests_total{"), 4*9, "every operation by every result")
	for _, series := range seriesOf(s, "easel_generations_finished_total{") {
		require.True(t, strings.HasSuffix(series, `status="failed"}`) ||
			series == `easel_generations_finished_total{error_code="",status="completed"}` ||
			series == `easel_generations_finished_total{error_code="cancelled",status="cancelled"}`, series)
	}
}

// A job kind's first attempt creates its series for every result, so that
// its first error, cancel or snooze counts in rate() from 0.
func TestJobDurationHasEveryResultOnceKindRan(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.Empty(t, seriesOf(metricstest.Scrape(t, b.metrics.Handler()), "easel_job_duration_seconds_count{"),
		"the kinds are not known before they run")

	require.NoError(t, b.metrics.WorkerMiddleware().Work(b.ctx, &rivertype.JobRow{Kind: "submit_generation"},
		func(context.Context) error { return nil }))

	s := metricstest.Scrape(t, b.metrics.Handler())
	for result, want := range map[string]float64{"ok": 1, "error": 0, "cancelled": 0, "snoozed": 0} {
		series := `easel_job_duration_seconds_count{kind="submit_generation",result="` + result + `"}`
		require.Contains(t, s, series)
		require.Equal(t, want, s[series], series)
	}
	require.Len(t, seriesOf(s, "easel_job_duration_seconds_count{"), 4, "only the kind that ran")
}

// seriesOf returns the series of samples that start with prefix.
func seriesOf(samples map[string]float64, prefix string) []string {
	var series []string
	for name := range samples {
		if strings.HasPrefix(name, prefix) {
			series = append(series, name)
		}
	}
	return series
}

// sumOf adds up the samples of the series that start with prefix.
func sumOf(samples map[string]float64, prefix string) float64 {
	var sum float64
	for _, series := range seriesOf(samples, prefix) {
		sum += samples[series]
	}
	return sum
}

// closedURL is the base URL of a port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	return url
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
	require.NotContains(t, s, `easel_oldest_unfinished_seconds{status="queued"}`)
	require.Contains(t, s, `easel_database_up`, "an alert on the database sees 0, not no data")
	require.Equal(t, 0.0, s[`easel_database_up`])
	logged, err := io.ReadAll(b.logs)
	require.NoError(t, err)
	require.Contains(t, string(logged), "closed pool")
}

// /metrics is open to anyone, so its scrapes must not set the database's
// load: those arriving while the gauges are being read wait for that read,
// rather than each take connections of the pool the API and the workers
// share. The read itself takes one connection for all its queries.
func TestConcurrentScrapesShareOneDatabaseRead(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.insert(t)
	server := httptest.NewServer(b.metrics.Handler())
	t.Cleanup(server.Close)

	// Another pool holds generations locked, so that the first scrape's
	// read stays under way until every scrape has arrived.
	locker, err := pgxpool.New(b.ctx, b.pool.Config().ConnString())
	require.NoError(t, err)
	t.Cleanup(locker.Close)
	lock, err := locker.Begin(b.ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = lock.Rollback(b.ctx) })
	_, err = lock.Exec(b.ctx, `LOCK TABLE generations IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)

	before := b.pool.Stat().AcquireCount()
	const scrapes = 40
	bodies, errs := make([]string, scrapes), make([]error, scrapes)
	var wg sync.WaitGroup
	for i := range scrapes {
		wg.Go(func() { bodies[i], errs[i] = get(b.ctx, server.URL) })
	}
	require.Eventually(t, func() bool { return goroutinesIn("metrics.(*dbCollector).Collect") == scrapes },
		10*time.Second, time.Millisecond, "every scrape is collecting the database's gauges")
	require.Equal(t, int64(1), b.pool.Stat().AcquireCount()-before, "one read under way, on one connection")

	require.NoError(t, lock.Rollback(b.ctx))
	wg.Wait()
	require.Equal(t, int64(1), b.pool.Stat().AcquireCount()-before, "%d scrapes at once took one connection in all", scrapes)
	for i := range scrapes {
		require.NoError(t, errs[i])
		s := metricstest.Samples(t, bodies[i])
		require.Equal(t, 1.0, s[`easel_database_up`])
		require.Equal(t, 1.0, s[`easel_generations{status="queued"}`], "every scrape has the read's gauges")
	}
}

// One read of the gauges serves the scrapes of the next
// metrics.DatabaseReadEvery; the first scrape after reads afresh.
func TestDatabaseGaugesReadAtMostOncePerInterval(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.Equal(t, 0.0, metricstest.Scrape(t, b.metrics.Handler())[`easel_generations{status="queued"}`])
	b.insert(t)
	before := b.pool.Stat().AcquireCount()

	b.clock.Advance(metrics.DatabaseReadEvery - time.Nanosecond)
	s := metricstest.Scrape(t, b.metrics.Handler())
	require.Equal(t, 0.0, s[`easel_generations{status="queued"}`], "the earlier reading, shared")
	require.Equal(t, 1.0, s[`easel_database_up`])
	require.Equal(t, before, b.pool.Stat().AcquireCount(), "no connection taken")

	b.clock.Advance(time.Nanosecond)
	s = metricstest.Scrape(t, b.metrics.Handler())
	require.Equal(t, 1.0, s[`easel_generations{status="queued"}`], "read afresh")
	require.Equal(t, before+1, b.pool.Stat().AcquireCount())
}

// A read that fails shows as the failure it is, easel_database_up 0 with
// the gauges it could not read missing, for as long as it is the latest
// reading; a database in trouble is read no more often than a healthy one.
// The next read that succeeds reads 1 again.
func TestFailedDatabaseReadIsSharedAsAFailure(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.Equal(t, 1.0, metricstest.Scrape(t, b.metrics.Handler())[`easel_database_up`])

	requireFailedReading := func(msg string) {
		t.Helper()
		s := metricstest.Scrape(t, b.metrics.Handler())
		require.Contains(t, s, `easel_database_up`, msg)
		require.Equal(t, 0.0, s[`easel_database_up`], msg)
		require.NotContains(t, s, `easel_generations{status="queued"}`, msg)
		require.NotContains(t, s, `easel_generations_in_flight`, msg)
		require.NotContains(t, s, `easel_generations_unconfirmed_submissions`, msg)
		require.NotContains(t, s, `easel_generations_submit_unconfirmed`, msg)
		require.Contains(t, s, `easel_river_jobs{queue="default",state="available"}`, "the queries that succeeded are reported")
	}
	_, err := b.pool.Exec(b.ctx, `ALTER TABLE generations RENAME TO generations_away`)
	require.NoError(t, err)
	b.nextDatabaseRead()
	requireFailedReading("the read failed")
	_, err = b.pool.Exec(b.ctx, `ALTER TABLE generations_away RENAME TO generations`)
	require.NoError(t, err)
	requireFailedReading("the failed reading is still the latest")

	b.nextDatabaseRead()
	s := metricstest.Scrape(t, b.metrics.Handler())
	require.Equal(t, 1.0, s[`easel_database_up`])
	require.Contains(t, s, `easel_generations{status="queued"}`)
}

// get returns the body of a GET of url.
func get(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("new request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("read body of GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return string(body), nil
}

// goroutinesIn counts the goroutines whose stack holds fn.
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, fn) {
			n++
		}
	}
	return n
}

func TestNilMetricsDoNothing(t *testing.T) {
	t.Parallel()
	var m *metrics.Metrics
	m.WebhookReceived(store.OutcomeApplied)
	m.CallbackAttempted(metrics.CallbackDelivered)
	m.GenerationFinished(&store.Generation{Status: store.StatusCompleted})
	m.GenerationFailed("timeout")
	m.ResultApplied(metrics.ResultFromWebhook)
	require.Nil(t, m.CountFal(nil), "the client itself")
	called := false
	require.NoError(t, m.WorkerMiddleware().Work(context.Background(), &rivertype.JobRow{}, func(context.Context) error {
		called = true
		return nil
	}))
	require.True(t, called)
}

// Gauges of an empty queue or status read 0 rather than disappearing, so
// that dashboards show 0 rather than "no data" once the work is done.
func TestGaugesReadZeroWhenEmpty(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var jobID int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		INSERT INTO river_job (args, kind, max_attempts, queue, state, scheduled_at)
		VALUES ('{}', 'submit_generation', 1, 'default', 'scheduled', now() + interval '1 hour')
		RETURNING id`).Scan(&jobID))
	_, err := b.pool.Exec(b.ctx, `
		INSERT INTO river_job (args, kind, max_attempts, queue, state)
		VALUES ('{}', 'other', 1, 'elsewhere', 'available')`)
	require.NoError(t, err)

	s := metricstest.Scrape(t, b.metrics.Handler())
	require.Equal(t, 1.0, s[`easel_river_jobs{queue="default",state="scheduled"}`])
	require.Equal(t, 1.0, s[`easel_river_jobs{queue="elsewhere",state="available"}`], "a queue met only in the rows is reported too")

	_, err = b.pool.Exec(b.ctx, `UPDATE river_job SET state = 'cancelled', finalized_at = now() WHERE id = $1`, jobID)
	require.NoError(t, err)
	b.nextDatabaseRead()
	s = metricstest.Scrape(t, b.metrics.Handler())
	for _, queue := range []string{"default", "callbacks", "reconcile"} {
		for _, state := range []string{"available", "scheduled", "retryable", "running", "pending"} {
			series := `easel_river_jobs{queue="` + queue + `",state="` + state + `"}`
			require.Contains(t, s, series)
			require.Equal(t, 0.0, s[series], series)
		}
	}
	for _, status := range []string{"queued", "submitted", "completed", "failed", "cancelled"} {
		series := `easel_generations{status="` + status + `"}`
		require.Contains(t, s, series)
		require.Equal(t, 0.0, s[series], series)
	}
}

func TestPoolMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dbtest.URL(t))
	require.NoError(t, err)
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	// The gauges read from Postgres go through another pool here, so that
	// the counts below are the test's alone.
	m := metrics.New(dbtest.Pool(t), metrics.Config{Pool: pool})

	held := make([]*pgxpool.Conn, 0, 2)
	for range 2 {
		c, err := pool.Acquire(ctx)
		require.NoError(t, err)
		held = append(held, c)
	}
	before := metricstest.Scrape(t, m.Handler())
	for series, want := range map[string]float64{
		`easel_db_pool_connections{state="acquired"}`:     2,
		`easel_db_pool_connections{state="idle"}`:         0,
		`easel_db_pool_connections{state="constructing"}`: 0,
		`easel_db_pool_max_connections`:                   2,
		`easel_db_pool_acquires_total`:                    2,
		`easel_db_pool_canceled_acquires_total`:           0,
	} {
		require.Contains(t, before, series)
		require.Equal(t, want, before[series], series)
	}

	// With every connection held, one more acquire has to wait for one to
	// be released.
	acquired := make(chan error, 1)
	go acquireWaiting(ctx, pool, acquired)
	require.Eventually(t, func() bool { return goroutineBlockedIn("metrics_test.acquireWaiting", "(*Weighted).Acquire") },
		10*time.Second, time.Millisecond, "the acquire waits for a connection")
	held[0].Release()
	require.NoError(t, <-acquired)
	held[1].Release()

	// An acquire given up before it gets a connection is counted apart.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = pool.Acquire(cancelled)
	require.ErrorIs(t, err, context.Canceled)

	after := metricstest.Scrape(t, m.Handler())
	require.Equal(t, before[`easel_db_pool_acquire_waits_total`]+1, after[`easel_db_pool_acquire_waits_total`])
	require.Greater(t, after[`easel_db_pool_acquire_wait_seconds_total`], before[`easel_db_pool_acquire_wait_seconds_total`])
	require.Equal(t, 3.0, after[`easel_db_pool_acquires_total`])
	require.Equal(t, 1.0, after[`easel_db_pool_canceled_acquires_total`])
	require.Equal(t, 0.0, after[`easel_db_pool_connections{state="acquired"}`])
	require.Equal(t, 2.0, after[`easel_db_pool_connections{state="idle"}`])
}

// acquireWaiting acquires a connection from pool, releases it, and sends
// the error to done. It is named so that goroutineBlockedIn can find it.
func acquireWaiting(ctx context.Context, pool *pgxpool.Pool, done chan<- error) {
	c, err := pool.Acquire(ctx)
	if err == nil {
		c.Release()
	}
	done <- err
}

// goroutineBlockedIn reports whether a goroutine's stack holds both fn and
// blockedIn: pgxpool has no count of waiting acquires, and releasing a
// connection before the acquire waits would hand it over without a wait.
func goroutineBlockedIn(fn, blockedIn string) bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, fn) && strings.Contains(g, blockedIn) {
			return true
		}
	}
	return false
}

func TestPoolMetricsNeedAPool(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := metricstest.Scrape(t, b.metrics.Handler())
	require.NotContains(t, s, `easel_db_pool_max_connections`)
	require.Contains(t, s, `easel_generations_in_flight`)
}

// easel serve reads the gauges through the pool it reports: the pool is
// read first, so the scrape's own connection never counts as acquired.
func TestPoolMetricsLeaveOutTheScrape(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	m := metrics.New(pool, metrics.Config{Pool: pool, MaxInflight: 32})
	for range 20 {
		got := metricstest.Scrape(t, m.Handler())
		require.Zero(t, got[`easel_db_pool_connections{state="acquired"}`])
		require.Contains(t, got, `easel_generations_in_flight`, "the gauges were read through the pool")
	}
}
