package serve_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/serve"
	"github.com/easelhq/easel/store"
)

// The fal cancel sender runs until River has stopped, not just until
// SIGTERM: a cancel queued while River's last jobs finish is sent at once,
// rather than left to the next process's reconciler, by which time fal has
// run and billed the request.
func TestCancelSenderRunsWhileRiverDrains(t *testing.T) {
	t.Parallel()
	sim, err := falsim.Start(context.Background(), "127.0.0.1:0", falsim.Config{})
	require.NoError(t, err)
	t.Cleanup(sim.Close)
	simURL, err := url.Parse(sim.QueueURL())
	require.NoError(t, err)
	// Holds submissions only: the cancel (a PUT) goes through.
	queue := &holdingFal{sim: simURL, held: make(chan struct{}, 1), release: make(chan struct{})}
	queueServer := httptest.NewServer(queue)
	t.Cleanup(queueServer.Close)
	t.Cleanup(queue.releaseHeld)

	stopping := &logWatcher{msg: "shutting down: HTTP server stopped; letting running jobs finish", seen: make(chan struct{})}
	b := setupWithConfig(t, func(cfg *serve.Config) {
		cfg.FalKey, cfg.FalQueueURL, cfg.FalJWKSURL = "shutdown-order-test-key", queueServer.URL, sim.JWKSURL()
	}, stopping)
	key, _, err := api.CreateKey(b.ctx, b.pool, "shutdown-order-test")
	require.NoError(t, err)
	code, body := b.do(t, http.MethodPost, "/v1/generations",
		http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + key}}, []byte(exampleInput))
	require.Equal(t, http.StatusAccepted, code, string(body))
	select {
	case <-queue.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the generation was never submitted")
	}

	stopped := make(chan error, 1)
	go func() { stopped <- b.shutdown() }()
	select {
	case <-stopping.seen:
	case err := <-stopped:
		t.Fatalf("serve returned while its submission was held: %v", err)
	}

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
