package jobs_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/logtest"
)

// Every line about a generation names it and, once fal has named it, the
// fal request: the submit, a later run of the job that finds nothing to
// do, and the reconciler's poll.
func TestLogLinesNameTheFalRequest(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{WebhookDropRate: 1})
	logs := &logtest.Buffer{}
	b.cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	gen := b.enqueue(t, "tests")

	require.NoError(t, b.submit(t, gen.ID))
	require.NoError(t, b.submit(t, gen.ID), "a second run of the job submits nothing")
	b.awaitCompletedAtFal(t, 1)
	b.cfg.PollAfter = time.Nanosecond
	b.reconcile(t)
	requestID := *b.generation(t, gen.ID).FalRequestID

	var messages []string
	for _, entry := range logs.Records(t) {
		require.Equal(t, gen.ID.String(), entry["generation_id"], entry)
		require.Equal(t, requestID, entry["fal_request_id"], entry)
		messages = append(messages, entry["msg"].(string))
	}
	require.Equal(t, []string{
		"generation submitted to fal",
		"generation no longer queued; nothing to submit",
		"reconciler applied fal's result",
	}, messages)
}
