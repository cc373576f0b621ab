package falsim_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
)

// TestStatsCountCancelledApart: a cancelled request is reported COMPLETED by
// fal's status, but it never ran to the end and gets no webhook, so
// /_sim/stats counts it as cancelled, not completed: completed and
// webhooks_sent would otherwise disagree with no webhook missing.
func TestStatsCountCancelledApart(t *testing.T) {
	t.Parallel()

	b := setup(t, falsim.Config{Latency: holdLatency, MaxConcurrency: 1}, setupOpts{})
	running := b.submitWithWebhook(t, validInput)
	b.submitWithWebhook(t, validInput) // starts once running is cancelled, and runs on
	queued := b.submitWithWebhook(t, validInput)

	for _, sr := range []submitResponse{running, queued} {
		resp, body := b.do(t, http.MethodPut, sr.CancelURL, "")
		require.Equal(t, http.StatusAccepted, resp.StatusCode, string(body))
	}
	// A cancel of a finished request changes nothing.
	resp, body := b.do(t, http.MethodPut, running.CancelURL, "")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(body))

	resp, body = b.do(t, http.MethodGet, b.url+"/_sim/stats", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var got map[string]int
	require.NoError(t, json.Unmarshal(body, &got))
	require.Equal(t, 3, got["submissions"])
	require.Equal(t, 2, got["cancelled"])
	require.Zero(t, got["completed"])
	require.Equal(t, 1, got["in_progress"])
	require.Zero(t, got["in_queue"])
	require.Zero(t, got["webhooks_sent"])
	require.Zero(t, got["webhooks_dropped"])
	require.Equal(t, got["submissions"], got["in_queue"]+got["in_progress"]+got["completed"]+got["cancelled"],
		"every accepted submission is in exactly one of them")
}
