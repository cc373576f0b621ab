package chaos

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// receiverProxy is EASEL_PUBLIC_URL: it spreads fal's webhooks over the
// processes that receive them, skipping dead ones, and can be taken down to
// make every delivery fail, as when the receiver is unreachable.
type receiverProxy struct {
	backends []string // base URLs
	client   *http.Client
	next     atomic.Uint64

	mu sync.Mutex
	// An outage lasts a number of refused deliveries rather than a time, so
	// that every run has them however fast the machine delivers.
	refusalsLeft int
	backUp       chan struct{} // closed when the outage ends
	refused      int           // deliveries refused during outages
}

func newReceiverProxy(backends ...string) *receiverProxy {
	return &receiverProxy{backends: backends, client: &http.Client{Timeout: 10 * time.Second}}
}

// outage takes the receiver down until it has refused n deliveries. The
// channel it returns is closed when the receiver is back up.
func (p *receiverProxy) outage(n int) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refusalsLeft, p.backUp = n, make(chan struct{})
	if n <= 0 {
		close(p.backUp)
	}
	return p.backUp
}

// endOutage brings the receiver back up however many refusals were left.
func (p *receiverProxy) endOutage() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.refusalsLeft > 0 {
		p.refusalsLeft = 0
		close(p.backUp)
	}
}

// refusals returns how many deliveries outages refused.
func (p *receiverProxy) refusals() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}

// refuse reports whether the receiver is down, counting the delivery as
// refused if it is; the last refusal of an outage ends it.
func (p *receiverProxy) refuse() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.refusalsLeft == 0 {
		return false
	}
	p.refused++
	p.refusalsLeft--
	if p.refusalsLeft == 0 {
		close(p.backUp)
	}
	return true
}

func (p *receiverProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.refuse() {
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
		return
	}
	http.Error(w, "no receiver reachable", http.StatusBadGateway)
}
