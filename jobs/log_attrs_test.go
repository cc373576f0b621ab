package jobs_test

import (
	"encoding/json"
	"log/slog"
	"strings"
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
	for line := range strings.Lines(logs.String()) {
		var entry struct {
			Msg          string `json:"msg"`
			GenerationID string `json:"generation_id"`
			FalRequestID string `json:"fal_request_id"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &entry), line)
		require.Equal(t, gen.ID.String(), entry.GenerationID, line)
		require.Equal(t, requestID, entry.FalRequestID, line)
		messages = append(messages, entry.Msg)
	}
	require.Equal(t, []string{
		"generation submitted to fal",
		"generation no longer queued; nothing to submit",
		"reconciler applied fal's result",
	}, messages)
}
