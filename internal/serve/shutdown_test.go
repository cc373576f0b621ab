package serve_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/serve"
)

// holdingFal is fal's queue API, a simulator's, with each submission held
// until release is closed.
type holdingFal struct {
	sim     *url.URL
	held    chan struct{} // receives each submission as it arrives
	release chan struct{}
	once    sync.Once
}

func (h *holdingFal) releaseHeld() { h.once.Do(func() { close(h.release) }) }

func (h *holdingFal) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method == http.MethodPost {
		h.held <- struct{}{}
		select {
		case <-h.release:
		case <-req.Context().Done():
			return // Easel gave up on its submit call
		}
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(h.sim) }}
	proxy.ServeHTTP(w, req)
}

// logWatcher is a JSON log destination that closes seen once a record
// with message msg is written.
type logWatcher struct {
	msg  string
	seen chan struct{}
	once sync.Once
}

func (w *logWatcher) Write(p []byte) (int, error) {
	var record struct {
		Msg string `json:"msg"`
	}
	if json.Unmarshal(p, &record) == nil && record.Msg == w.msg {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

// heldShutdown is an easel serve shutting down while fal holds the
// submission of the one generation it enqueued.
type heldShutdown struct {
	b     *testBundle
	sim   *falsim.Server
	queue *holdingFal
	body  []byte // the enqueue's answer
	// stopped receives serve's error once it has stopped.
	stopped <-chan error
}

// shutdownWhileSubmitting starts an easel serve with FAL_KEY set, whose
// fal (a simulator) holds each submission until queue.releaseHeld, enqueues
// a generation through the API with a key named name, waits until fal
// holds its submission, then shuts serve down and waits until its HTTP
// server has stopped and River is letting running jobs finish.
func shutdownWhileSubmitting(t *testing.T, name string) heldShutdown {
	t.Helper()
	sim, err := falsim.Start(context.Background(), "127.0.0.1:0", falsim.Config{})
	require.NoError(t, err)
	t.Cleanup(sim.Close)
	simURL, err := url.Parse(sim.QueueURL())
	require.NoError(t, err)
	// Holds submissions only: a cancel (a PUT) goes through.
	queue := &holdingFal{sim: simURL, held: make(chan struct{}, 1), release: make(chan struct{})}
	queueServer := httptest.NewServer(queue)
	t.Cleanup(queueServer.Close)
	t.Cleanup(queue.releaseHeld) // before the server closes, which waits for held requests

	stopping := &logWatcher{msg: "shutting down: HTTP server stopped; letting running jobs finish", seen: make(chan struct{})}
	b := setupWithConfig(t, func(cfg *serve.Config) {
		cfg.FalKey, cfg.FalQueueURL, cfg.FalJWKSURL = name+"-key", queueServer.URL, sim.JWKSURL()
	}, stopping)

	// With FAL_KEY set, the API is never open.
	key, _, err := api.CreateKey(b.ctx, b.pool, name)
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
	return heldShutdown{b: b, sim: sim, queue: queue, body: body, stopped: stopped}
}

// A shutdown lets a submission fal is answering finish: fal's answer is
// recorded, and nothing is recorded as an error that could make Easel pay
// for the generation again.
func TestShutdownFinishesSubmissionInFlight(t *testing.T) {
	t.Parallel()
	h := shutdownWhileSubmitting(t, "shutdown-test")
	b, sim, queue, stopped := h.b, h.sim, h.queue, h.stopped
	var g generation
	require.NoError(t, json.Unmarshal(h.body, &g))
	queue.releaseHeld()
	require.NoError(t, <-stopped)

	var (
		status            string
		errorCode         *string
		submissions       int
		confirmed         int
		falRequestIDIsSet bool
	)
	require.NoError(t, b.pool.QueryRow(context.Background(),
		`SELECT status, error_code, fal_submissions, fal_submissions_confirmed, fal_request_id IS NOT NULL FROM generations WHERE id = $1`, g.ID).
		Scan(&status, &errorCode, &submissions, &confirmed, &falRequestIDIsSet))
	// fal's webhook found the HTTP server stopped; the next process gets it.
	require.Equal(t, "submitted", status)
	require.Nil(t, errorCode, "the submit call was not cut short")
	require.Equal(t, 1, submissions)
	require.Equal(t, 1, confirmed)
	require.True(t, falRequestIDIsSet)
	require.Equal(t, 1, sim.Sim.Stats().Submissions)
}
