package serve

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// shutdownDelay holds off a shutdown for EASEL_SHUTDOWN_DELAY once the
// first SIGTERM or SIGINT arrives, serving every request meanwhile but
// answering /readyz 503: a load balancer that still routes to the process
// for a moment after the signal finds it serving rather than refusing
// connections, and its readiness probe takes it out of rotation.
//
// A second signal is not its concern: cmd/easel restores the default
// handling after the first, so the second ends the process, delay or not.
type shutdownDelay struct {
	delay  time.Duration
	logger *slog.Logger

	// draining is read by every /readyz request, hence not under mu.
	draining atomic.Bool

	mu sync.Mutex
	// server is set once the HTTP server serves the routes. Until then a
	// signal stops the start-up at once: there is nothing to drain (every
	// request but /healthz is answered 503 starting), and the wait for
	// the database must not be held up.
	server *http.Server
	// started is when the delay began; zero while it has not.
	started time.Time

	cancel context.CancelCauseFunc // nil without a delay
	done   chan struct{}           // closed once watch returns
}

func newShutdownDelay(delay time.Duration, logger *slog.Logger) *shutdownDelay {
	return &shutdownDelay{delay: delay, logger: logger}
}

// wrap returns the context Run works under. Without a delay it is parent.
// With one it ends delay after parent does if the HTTP server was serving
// by then, at once if not, with parent's cause; stop ends it too.
func (d *shutdownDelay) wrap(parent context.Context) context.Context {
	if d.delay <= 0 {
		return parent
	}
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	d.cancel, d.done = cancel, make(chan struct{})
	go d.watch(parent, ctx)
	return ctx
}

func (d *shutdownDelay) watch(parent, ctx context.Context) {
	defer close(d.done)
	select {
	case <-parent.Done():
	case <-ctx.Done():
		return // stop: Run returned before any signal
	}
	if d.begin() {
		d.logger.Info("shutting down: answering /readyz 503 while serving as usual for EASEL_SHUTDOWN_DELAY", "delay", d.delay.String())
		timer := time.NewTimer(d.delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done(): // stop: Run returned during the delay
		}
	}
	d.cancel(context.Cause(parent))
}

// serving records that server serves the routes, so that a signal from now
// on starts the delay.
func (d *shutdownDelay) serving(server *http.Server) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.server = server
}

// begin starts the delay, if the server is serving, and reports whether
// it did.
func (d *shutdownDelay) begin() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.server == nil {
		return false
	}
	d.started = time.Now()
	d.draining.Store(true)
	// Each response now closes its connection, so that a client holding
	// one open comes back through the load balancer, which sends it
	// elsewhere, rather than having it closed under it at the end of the
	// delay.
	d.server.SetKeepAlivesEnabled(false)
	return true
}

// shuttingDown reports whether the delay has begun: /readyz answers 503.
func (d *shutdownDelay) shuttingDown() bool { return d.draining.Load() }

// startedOr returns when the delay began, or now if it did not: the
// start of the shutdown as the operator who sent the signal sees it.
func (d *shutdownDelay) startedOr(now time.Time) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started.IsZero() {
		return now
	}
	return d.started
}

// stop ends the delay, if it runs, and waits for its goroutine, which
// logs through Run's logger and so must be done before Run returns.
func (d *shutdownDelay) stop() {
	if d.cancel == nil {
		return
	}
	d.cancel(nil)
	<-d.done
}
