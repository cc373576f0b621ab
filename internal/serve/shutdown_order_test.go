package serve_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// The fal cancel sender runs until River has stopped, not just until
// SIGTERM: a cancel queued while River's last jobs finish is sent at once,
// rather than left to the next process's reconciler, by which time fal has
// run and billed the request.
func TestCancelSenderRunsWhileRiverDrains(t *testing.T) {
	t.Parallel()
	h := shutdownWhileSubmitting(t, "shutdown-order-test")
	b, queue, stopped := h.b, h.queue, h.stopped

	// River drains the held submission. Meanwhile a webhook's result
	// supersedes a finished generation's request: its cancel is queued,
	// and announced, as store.TakeResultRequest does.
	ctx := context.Background() // b.ctx ended with the shutdown
	other, err := store.InsertGeneration(ctx, b.pool, store.InsertGenerationParams{
		ID: uuid.Must(uuid.NewV7()), Client: "shutdown-order-test", EndpointID: "fal-ai/fooocus/image-prompt",
		Input: json.RawMessage(`{}`), Priority: 2,
	})
	require.NoError(t, err)
	_, err = store.Cancel(ctx, b.pool, other.ID, "cancelled by caller")
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `
		WITH queued AS (
			INSERT INTO fal_request_cancels (generation_id, fal_request_id, reason) VALUES ($1, 'req-superseded', $2)
			RETURNING 1)
		SELECT pg_notify($3, $2) FROM queued`, other.ID, store.FalCancelSuperseded, store.FalCancelQueuedChannel)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var answered bool
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT answered_at IS NOT NULL FROM fal_request_cancels WHERE generation_id = $1`, other.ID).
			Scan(&answered))
		return answered
	}, 10*time.Second, 10*time.Millisecond, "sent while River drains")

	queue.releaseHeld()
	require.NoError(t, <-stopped)
}
