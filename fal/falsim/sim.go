package falsim

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Sim is a simulated fal account: its queue, its runners and its webhook
// deliveries. Serve it with Handler, or use Start for a real listener.
type Sim struct {
	cfg     Config
	logger  *slog.Logger
	key     ed25519.PrivateKey
	images  *imageCache
	handler http.Handler
	jwks    []byte

	// now stamps webhook timestamps and logs, and ages finished requests
	// (see Config.Retention); tests replace it.
	now func() time.Time

	// submissions numbers submit attempts for drawPlan.
	submissions atomic.Uint64

	// ctx is cancelled by Close, aborting webhook deliveries and streams.
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup // timers and deliveries
	closeOnce sync.Once

	mu         sync.Mutex
	closed     bool
	requests   map[string]*request
	queue      []*request // IN_QUEUE, in dispatch order
	inProgress int
	// retired are the finished requests in requests, oldest first, that
	// sweepLocked forgets once Config.Retention has passed.
	retired []*request
	// webhookURLs counts the requests in requests by fal_webhook URL, for
	// Stats.DuplicateSubmissions.
	webhookURLs map[string]int
	stats       Stats

	// resultErrorStatus, when not 0, answers every finished request's
	// result (see SetResultErrorStatus).
	resultErrorStatus int
}

// New returns a simulator configured by cfg. Its Ed25519 signing key is
// derived from cfg.Seed.
func New(cfg Config) (*Sim, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("falsim config: %w", err)
	}
	cfg = cfg.withDefaults()

	var seed [8]byte
	binary.BigEndian.PutUint64(seed[:], uint64(cfg.Seed))
	keySeed := sha256.Sum256(append([]byte("falsim webhook key "), seed[:]...))
	key := ed25519.NewKeyFromSeed(keySeed[:])

	jwks, err := jwksDocument(key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}

	ctx, cancel := context.WithCancel(context.Background())
	s := &Sim{
		cfg:         cfg,
		logger:      cfg.Logger,
		key:         key,
		images:      newImageCache(),
		jwks:        jwks,
		now:         time.Now,
		ctx:         ctx,
		cancel:      cancel,
		requests:    make(map[string]*request),
		webhookURLs: make(map[string]int),
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/jwks.json", s.serveJWKS)
	mux.Handle("GET /files/", http.StripPrefix("/files", s.FilesHandler()))
	mux.HandleFunc("GET /_sim/stats", s.serveStats)
	mux.HandleFunc("/", s.serveQueue)
	s.handler = mux
	return s, nil
}

// Handler serves the queue API, the JWKS, the generated files and
// /_sim/stats. See the package documentation for the routes.
func (s *Sim) Handler() http.Handler { return s.handler }

// PublicKey is the key that verifies the simulator's webhook signatures.
func (s *Sim) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Stats returns a snapshot of the simulator's counters.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.InQueue = len(s.queue)
	st.InProgress = s.inProgress
	return st
}

// Close stops the simulated runners and webhook deliveries and waits for
// them. Requests stay readable, as long as Config.Retention lets them; new
// submissions are answered 503.
func (s *Sim) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.cancel()
		for _, req := range s.requests {
			s.stopTimerLocked(req)
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
}

// afterLocked runs f with s.mu held once d has passed, unless the timer was
// stopped or replaced meanwhile (see stopTimerLocked) or the simulator closed.
func (s *Sim) afterLocked(req *request, d time.Duration, f func()) {
	s.stopTimerLocked(req)
	if s.closed {
		return
	}
	s.wg.Add(1)
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		defer s.wg.Done()
		s.mu.Lock()
		defer s.mu.Unlock()
		// A Stop that came too late to keep this func from running still
		// detached the timer from req.
		if req.timer != t {
			return
		}
		req.timer = nil
		f()
	})
	req.timer = t
}

func (s *Sim) stopTimerLocked(req *request) {
	if req.timer != nil && req.timer.Stop() {
		s.wg.Done() // its func will never run
	}
	req.timer = nil
}

// goLocked runs f in a goroutine that Close waits for, and reports whether
// it did: not once the simulator is closed.
func (s *Sim) goLocked(f func()) bool {
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}
