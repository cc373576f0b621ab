package serve_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/serve"
)

// requireMetrics waits for the series of want to read their values:
// counters move just after the response that showed the result.
func (b *testBundle) requireMetrics(t *testing.T, want map[string]float64) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		s := b.metrics(t)
		for series, v := range want {
			if assert.Contains(c, s, series) {
				assert.Equal(c, v, s[series], series)
			}
		}
	}, 10*time.Second, 20*time.Millisecond)
}

// What an SRE alerts on after a generation fails at fal: the failure by
// its code, the result that came by webhook, fal's answer to the submit,
// and a database that answers.
func TestMetricsAfterFailedGeneration(t *testing.T) {
	t.Parallel()
	sim := fastSimulator()
	sim.FailRate = 1
	b := setupWithConfig(t, func(cfg *serve.Config) { cfg.Simulator = sim }, io.Discard)

	g := b.enqueue(t, exampleInput)
	require.Equal(t, "failed", b.awaitTerminal(t, g.ID).Status)
	var code string
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT error_code FROM generations WHERE id = $1`, g.ID).Scan(&code))

	b.requireMetrics(t, map[string]float64{
		`easel_generations_finished_total{error_code="` + code + `",status="failed"}`: 1,
		`easel_generations_finished_total{error_code="",status="completed"}`:          0,
		`easel_generations_finished_total{error_code="other",status="failed"}`:        0,
		`easel_results_applied_total{source="webhook"}`:                               1,
		`easel_results_applied_total{source="reconciler"}`:                            0,
		`easel_fal_requests_total{operation="submit",result="ok"}`:                    1,
		`easel_fal_requests_total{operation="submit",result="rate_limited"}`:          0,
		`easel_webhooks_received_total{outcome="not_recorded"}`:                       0,
		`easel_webhooks_received_total{outcome="keys_unavailable"}`:                   0,
		`easel_database_up`: 1,
		`easel_oldest_unfinished_seconds{status="queued"}`:    0,
		`easel_oldest_unfinished_seconds{status="submitted"}`: 0,
	})
}

// A cancel through the API counts the generation it finishes, and its call
// to fal.
func TestMetricsAfterCancel(t *testing.T) {
	t.Parallel()
	b := setupWithSimulator(t, &falsim.Config{Latency: falsim.Latency{Min: time.Hour, Max: time.Hour}})

	g := b.enqueue(t, exampleInput)
	require.Eventually(t, func() bool {
		var status string
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT status FROM generations WHERE id = $1`, g.ID).Scan(&status))
		return status == "submitted"
	}, 30*time.Second, 20*time.Millisecond)
	require.Positive(t, b.metrics(t)[`easel_fal_requests_total{operation="submit",result="ok"}`])

	status, body := b.do(t, http.MethodPost, "/v1/generations/"+g.ID+"/cancel", nil, nil)
	require.Equal(t, http.StatusOK, status, string(body))
	b.requireMetrics(t, map[string]float64{
		`easel_generations_finished_total{error_code="cancelled",status="cancelled"}`: 1,
		`easel_fal_requests_total{operation="cancel",result="ok"}`:                    1,
		`easel_results_applied_total{source="cancel"}`:                                0,
	})
}
