package jobs_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/metricstest"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/metrics"
	"github.com/easelhq/easel/store"
)

// Every path of the reconciler and of a cancel that finishes a generation
// counts it once in easel_generations_finished_total, under the status and
// error code its row has, and a result it applied under its source; its
// calls to fal count too.
func TestFinishedGenerationsAreCounted(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name string
		sim  falsim.Config
		// finish takes a generation enqueued by the bundle to its end.
		finish func(t *testing.T, b *testBundle, m *metrics.Metrics, gen *store.Generation)
		// want are series beyond the finished one, which the row names.
		want map[string]float64
	}{
		{
			name: "reconciler: webhook lost, completed", sim: falsim.Config{WebhookDropRate: 1},
			finish: func(t *testing.T, b *testBundle, _ *metrics.Metrics, gen *store.Generation) {
				require.NoError(t, b.submit(t, gen.ID))
				b.awaitCompletedAtFal(t, 1)
				b.cfg.PollAfter = time.Nanosecond
				b.reconcile(t)
			},
			want: map[string]float64{
				`easel_results_applied_total{source="reconciler"}`:           1,
				`easel_fal_requests_total{operation="result",result="ok"}`:   1,
				`easel_fal_requests_total{operation="submit",result="ok"}`:   1,
				`easel_generation_time_to_complete_seconds_count`:            1,
				`easel_fal_requests_total{operation="cancel",result="ok"}`:   0,
				`easel_fal_requests_total{operation="status",result="auth"}`: 0,
			},
		},
		{
			name: "reconciler: webhook lost, failed at fal", sim: falsim.Config{FailRate: 1, WebhookDropRate: 1},
			finish: func(t *testing.T, b *testBundle, _ *metrics.Metrics, gen *store.Generation) {
				require.NoError(t, b.submit(t, gen.ID))
				b.awaitCompletedAtFal(t, 1)
				b.cfg.PollAfter = time.Nanosecond
				b.reconcile(t)
			},
			want: map[string]float64{
				`easel_results_applied_total{source="reconciler"}`: 1,
				`easel_generation_time_to_complete_seconds_count`:  0,
			},
		},
		{
			name: "reconciler: timed out", sim: running,
			finish: func(t *testing.T, b *testBundle, _ *metrics.Metrics, gen *store.Generation) {
				require.NoError(t, b.submit(t, gen.ID))
				b.cfg.Timeout = time.Nanosecond
				b.reconcile(t)
			},
			want: map[string]float64{
				`easel_results_applied_total{source="reconciler"}`:         0,
				`easel_fal_requests_total{operation="cancel",result="ok"}`: 1,
			},
		},
		{
			name: "reconciler: submit job lost",
			finish: func(t *testing.T, b *testBundle, _ *metrics.Metrics, gen *store.Generation) {
				_, err := b.pool.Exec(b.ctx, `UPDATE generations SET created_at = now() - interval '2 hours' WHERE id = $1`, gen.ID)
				require.NoError(t, err)
				_, err = b.riverClient(t).JobDelete(b.ctx, b.submitJobID(t, gen.ID))
				require.NoError(t, err)
				b.reconcile(t)
			},
			want: map[string]float64{`easel_fal_requests_total{operation="submit",result="ok"}`: 0},
		},
		{
			name: "reconciler: result gone past EASEL_TIMEOUT", sim: falsim.Config{WebhookDropRate: 1},
			finish: func(t *testing.T, b *testBundle, _ *metrics.Metrics, gen *store.Generation) {
				require.NoError(t, b.submit(t, gen.ID))
				b.awaitCompletedAtFal(t, 1)
				b.cfg.Timeout = time.Hour
				b.submittedAgo(t, gen.ID, 2*time.Hour)
				b.failResults(t, http.StatusNotFound)
				b.reconcile(t)
			},
			want: map[string]float64{
				`easel_fal_requests_total{operation="result",result="not_found"}`: 1,
				`easel_results_applied_total{source="reconciler"}`:                0,
			},
		},
		{
			name: "reconciler: fal's result says an earlier cancel reached it", sim: running,
			finish: func(t *testing.T, b *testBundle, m *metrics.Metrics, gen *store.Generation) {
				require.NoError(t, b.submit(t, gen.ID))
				_, err := jobs.NewCanceller(b.pool, b.riverClient(t), b.falLosingAnswers(), b.cfg.Logger).WithMetrics(m).
					WithRecordTimeout(100*time.Millisecond).Cancel(b.ctx, gen.ID)
				require.ErrorIs(t, err, jobs.ErrCancelMayHaveReachedFal)
				reconcileNow(t, b, gen.ID)
			},
			want: map[string]float64{`easel_results_applied_total{source="reconciler"}`: 1},
		},
		{
			name: "cancel: queued",
			finish: func(t *testing.T, b *testBundle, m *metrics.Metrics, gen *store.Generation) {
				_, err := b.canceller(t).WithMetrics(m).Cancel(b.ctx, gen.ID)
				require.NoError(t, err)
			},
			want: map[string]float64{`easel_results_applied_total{source="cancel"}`: 0},
		},
		{
			name: "cancel: submitted", sim: running,
			finish: func(t *testing.T, b *testBundle, m *metrics.Metrics, gen *store.Generation) {
				require.NoError(t, b.submit(t, gen.ID))
				_, err := b.canceller(t).WithMetrics(m).Cancel(b.ctx, gen.ID)
				require.NoError(t, err)
			},
			want: map[string]float64{
				`easel_results_applied_total{source="cancel"}`:             0,
				`easel_fal_requests_total{operation="cancel",result="ok"}`: 1,
			},
		},
		{
			name: "cancel: too late, fal had completed it", sim: falsim.Config{WebhookDropRate: 1},
			finish: func(t *testing.T, b *testBundle, m *metrics.Metrics, gen *store.Generation) {
				require.NoError(t, b.submit(t, gen.ID))
				b.awaitCompletedAtFal(t, 1)
				_, err := b.canceller(t).WithMetrics(m).Cancel(b.ctx, gen.ID)
				require.ErrorIs(t, err, jobs.ErrFinished)
			},
			want: map[string]float64{
				`easel_results_applied_total{source="cancel"}`:    1,
				`easel_generation_time_to_complete_seconds_count`: 1,
			},
		},
		{
			name: "submit worker: fal refuses the key",
			finish: func(t *testing.T, b *testBundle, m *metrics.Metrics, gen *store.Generation) {
				b.cfg.Fal = m.CountFal(fal.NewClient(fal.ClientConfig{QueueURL: b.sim.QueueURL()})) // no key
				require.NoError(t, b.submit(t, gen.ID))
			},
			want: map[string]float64{`easel_fal_requests_total{operation="submit",result="auth"}`: 1},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.sim)
			m := metrics.New(b.pool, metrics.Config{Logger: b.cfg.Logger})
			b.cfg.Metrics, b.cfg.Fal = m, m.CountFal(b.fal)
			gen := b.enqueue(t, "tests")

			tt.finish(t, b, m, gen)
			got := b.generation(t, gen.ID)
			require.True(t, got.Status.Terminal(), got.Status)
			code := ""
			if got.Status != store.StatusCompleted {
				code = *got.ErrorCode
			}
			s := metricstest.Scrape(t, m.Handler())
			finished := `easel_generations_finished_total{error_code="` + code + `",status="` + string(got.Status) + `"}`
			require.Equal(t, 1.0, s[finished], finished)
			var total float64
			for series, v := range s {
				if strings.HasPrefix(series, "easel_generations_finished_total{") {
					total += v
				}
			}
			require.Equal(t, 1.0, total, "counted once")
			for series, want := range tt.want {
				require.Contains(t, s, series)
				require.Equal(t, want, s[series], series)
			}
		})
	}
}
