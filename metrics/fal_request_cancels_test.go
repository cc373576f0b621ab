package metrics_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/metricstest"
	"github.com/easelhq/easel/store"
)

// The requests Easel cancelled for want of a use are counted by reason and
// fal's answer: ALREADY_COMPLETED is a result fal billed that nobody
// needed, what a cost owner alerts on.
func TestFalRequestCancelsGauge(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const billed = `easel_fal_request_cancels{answer="ALREADY_COMPLETED",reason="superseded"}`
	s := metricstest.Scrape(t, b.metrics.Handler())
	require.Contains(t, s, billed, "0, not missing, with none")
	require.Zero(t, s[billed])

	superseded := b.insert(t)
	require.NoError(t, store.QueueFalCancel(b.ctx, b.pool, superseded.ID, "req-a", "", store.FalCancelSuperseded))
	require.NoError(t, store.QueueFalCancel(b.ctx, b.pool, superseded.ID, "req-b", "", store.FalCancelSuperseded))
	timedOut := b.insert(t)
	require.NoError(t, store.QueueFalCancel(b.ctx, b.pool, timedOut.ID, "req-c", "", store.FalCancelTimeout))
	// fal answered req-a's cancel: it had run the request to its end.
	_, err := b.pool.Exec(b.ctx, `
		UPDATE fal_request_cancels SET answer = $1, answered_at = now(), attempted_at = 'infinity'
		WHERE fal_request_id = 'req-a'`, store.FalCancelAlreadyCompleted)
	require.NoError(t, err)

	b.nextDatabaseRead()
	s = metricstest.Scrape(t, b.metrics.Handler())
	for series, want := range map[string]float64{
		billed: 1,
		`easel_fal_request_cancels{answer="pending",reason="superseded"}`:                1,
		`easel_fal_request_cancels{answer="pending",reason="timeout"}`:                   1,
		`easel_fal_request_cancels{answer="CANCELLATION_REQUESTED",reason="superseded"}`: 0,
		`easel_fal_request_cancels{answer="gave_up",reason="timeout"}`:                   0,
		`easel_database_up`: 1,
	} {
		require.Contains(t, s, series)
		require.Equal(t, want, s[series], series)
	}
}
