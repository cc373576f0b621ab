package chaos

import (
	"bytes"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// receiverProxy is EASEL_PUBLIC_URL: it spreads fal's webhooks over the
// processes that receive them, skipping dead ones, and can be taken down to
// make every delivery fail, as when the receiver is unreachable.
type receiverProxy struct {
	backends []string // base URLs
	client   *http.Client

	next      atomic.Uint64
	down      atomic.Bool
	forwarded atomic.Int64
	refused   atomic.Int64
}

func newReceiverProxy(backends ...string) *receiverProxy {
	return &receiverProxy{backends: backends, client: &http.Client{Timeout: 10 * time.Second}}
}

func (p *receiverProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.down.Load() {
		p.refused.Add(1)
		http.Error(w, "receiver down", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for range p.backends {
		backend := p.backends[p.next.Add(1)%uint64(len(p.backends))]
		req, err := http.NewRequestWithContext(r.Context(), r.Method, backend+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := p.client.Do(req)
		if err != nil {
			continue // a killed process: try the next one
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		_ = resp.Body.Close()
		p.forwarded.Add(1)
		return
	}
	p.refused.Add(1)
	http.Error(w, "no receiver reachable", http.StatusBadGateway)
}
