package bench

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// webhookTimer is the transport of the simulator's webhook client. It times
// each delivery from the moment the simulator sends it to the moment Easel
// answers, which Easel does only after the generation's result has
// committed; so it also tells the bench when generations are recorded,
// without polling Postgres.
type webhookTimer struct {
	base http.RoundTripper

	mu        sync.Mutex
	latencies []time.Duration // of acknowledged deliveries, in order
	ackedAt   []time.Time
	failed    int
	changed   chan struct{} // closed and replaced on each acknowledgement
}

func newWebhookTimer(conns int) *webhookTimer {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// fal delivers from many machines at once; one sender that closed all
	// but two idle connections would measure TCP set-up instead of Easel.
	transport.MaxIdleConnsPerHost = conns
	return &webhookTimer{base: transport, changed: make(chan struct{})}
}

// client is an http.Client for falsim.Config.HTTPClient. Like the
// simulator's default it does not follow redirects.
func (w *webhookTimer) client() *http.Client {
	return &http.Client{
		Transport:     w,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (w *webhookTimer) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := w.base.RoundTrip(req)
	end := time.Now()

	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil || resp.StatusCode < 200 || resp.StatusCode > 299 {
		w.failed++
		return resp, err
	}
	w.latencies = append(w.latencies, end.Sub(start))
	w.ackedAt = append(w.ackedAt, end)
	close(w.changed)
	w.changed = make(chan struct{})
	return resp, nil
}

// closeIdle closes the sender's idle connections. Among them may be some
// it dialled for a delivery another connection then took, which never sent
// a request: an http.Server's Shutdown waits up to 5 s for such a one.
func (w *webhookTimer) closeIdle() {
	if t, ok := w.base.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}

// acked returns the number of acknowledged deliveries and failed attempts.
func (w *webhookTimer) acked() (acked, failed int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.latencies), w.failed
}

// waitAcked blocks until n deliveries were acknowledged and returns when the
// n-th was.
func (w *webhookTimer) waitAcked(ctx context.Context, n int) (time.Time, error) {
	for {
		w.mu.Lock()
		if n <= 0 || len(w.latencies) >= n {
			var at time.Time
			if n > 0 {
				at = w.ackedAt[n-1]
			}
			w.mu.Unlock()
			return at, nil
		}
		changed := w.changed
		w.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// latenciesOf returns a copy of the latencies of acknowledged deliveries
// from..to (0-based, to exclusive).
func (w *webhookTimer) latenciesOf(from, to int) []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	to = min(to, len(w.latencies))
	return append([]time.Duration(nil), w.latencies[from:to]...)
}
