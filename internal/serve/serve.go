// Package serve runs the easel serve process: migrations, the River client
// and workers, the HTTP API and webhook receiver, and, without FAL_KEY, an
// in-process fal simulator.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"go.opentelemetry.io/otel/trace"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/callbacks"
	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/metrics"
	"github.com/easelhq/easel/notify"
	"github.com/easelhq/easel/store"
)

// shutdownTimeout bounds each step of a shutdown: in-flight requests
// finishing, then running jobs finishing, then, if they did not, running
// jobs returning once cancelled.
const shutdownTimeout = 15 * time.Second

// Run serves until ctx is cancelled, then shuts down gracefully. ready, if
// not nil, receives the listener's address once every route is served. The
// listener opens first: until then it answers /healthz 200 and every other
// path 503 starting (starting_handler.go). ctx cancelled before then ends
// the start-up, and Run returns nil, as after a shutdown. It also shuts
// down, and returns an error saying why, if a process it must not share the
// database with turns out to run on it (fal_mode_guard.go).
//
// A shutdown first waits cfg.ShutdownDelay, if any, serving as usual but
// answering /readyz 503 (shutdown_delay.go); then stops the HTTP server,
// which finishes the requests under way; then River, which lets running
// jobs finish, so that a submission fal is answering gets its answer
// recorded, and cancels them only if they outlast shutdownTimeout; then the
// in-process simulator and the database pool.
func Run(ctx context.Context, cfg Config, logger *slog.Logger, ready func(addr string)) (err error) {
	// Deferred first, so it runs last, after every step of the shutdown
	// the other defers take: a log that ends without it was cut short (a
	// kill, a crash). On an error exit, cmd/easel logs the error instead.
	var shutdownStart time.Time
	var interrupted error // the start-up's error, when a signal ended it
	defer func() {
		switch {
		case err != nil:
		case interrupted != nil:
			logger.Info("easel serve stopped before it was ready", "interrupted", interrupted.Error())
		case !shutdownStart.IsZero():
			logger.Info("easel serve stopped", "shutdown_took", time.Since(shutdownStart).Round(time.Millisecond).String())
		}
	}()
	// Wraps ctx before stopServing does: a lease's stop, below, is not
	// delayed, since it stops a process that must not run at all.
	delay := newShutdownDelay(cfg.ShutdownDelay, logger)
	ctx = delay.wrap(ctx)
	defer delay.stop()
	// A lease that finds, on taking its locks again, a process this one
	// must not run with stops it as SIGTERM does (sessionLease.keep), and
	// Run returns why, whatever step it had reached.
	ctx, stopServing := context.WithCancelCause(ctx)
	defer stopServing(nil)
	defer func() {
		var stopped stopError
		if errors.As(context.Cause(ctx), &stopped) {
			err = stopped.err
		}
	}()

	s := &server{cfg: cfg, logger: logger, delay: delay, stopServing: stopServing}
	// Undoes, last first, whatever the steps of start got to, whether it
	// failed part-way or the process served and shut down.
	defer s.cleanUp()
	if err := s.start(ctx, ready); err != nil {
		if interruptedBy(ctx, err) {
			// A signal during start-up (a scale-down, a rollout) is a
			// shutdown, not a failure: it exits as one after SIGTERM does,
			// whichever step it cut short, rather than as a crash would.
			// A lease's stop also ends ctx; the defer above returns its
			// error instead.
			interrupted = err
			return nil
		}
		return err
	}
	if err := s.serveUntilDone(ctx); err != nil {
		return err
	}
	shutdownStart = delay.startedOr(time.Now())
	s.shutdown()
	return nil
}

// interruptedBy reports whether err, a start-up step's, is ctx ending: a
// step that failed for a reason of its own (a bad setting, a taken
// address) while a signal came still fails with it.
func interruptedBy(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, ctx.Err()) || errors.Is(err, context.Cause(ctx)))
}

// server is one easel serve process, built by start's steps in order: each
// sets the fields later steps use and registers, with deferCleanup, what
// undoes it.
type server struct {
	// cfg is Run's, completed as start goes: PublicURL from the listener
	// when unset, and FalKey, FalQueueURL and FalJWKSURL the in-process
	// simulator's when it runs.
	cfg         Config
	logger      *slog.Logger
	delay       *shutdownDelay
	stopServing context.CancelCauseFunc

	// mode is which kind of process cfg runs, read before the simulator
	// replaces FalKey (fal_mode_guard.go); simCfg the simulator's
	// configuration when FAL_KEY is unset.
	mode   store.FalMode
	simCfg falsim.Config

	pool      *pgxpool.Pool
	session   *sessionLease // nil when no lock is needed
	publisher *notify.Publisher
	listener  net.Listener
	auth      *api.Auth    // nil unless the role runs the HTTP API
	simFiles  http.Handler // the in-process simulator's images; nil with FAL_KEY

	tracerProvider trace.TracerProvider
	deliverer      *callbacks.Deliverer
	callbackURLs   api.CallbackURLChecker
	metrics        *metrics.Metrics
	falClient      fal.Queue
	// falHTTPClient is the fal client's HTTP client; nil, fal's own. Tests
	// set it to watch the client's connections.
	falHTTPClient *http.Client
	verifier      *fal.Verifier
	river         *river.Client[pgx.Tx]

	// httpServer serves handler from listen on: the starting handler,
	// then, from serveHTTP, the routes.
	httpServer *http.Server
	handler    *handlerSwitch
	serveErr   chan error

	// cleanups are what the steps so far must have undone, in the order
	// they registered it.
	cleanups []func()
}

// start takes the steps of a start-up. Their order is what makes them
// safe; each step's comment says what it must come after.
func (s *server) start(ctx context.Context, ready func(addr string)) error {
	if err := s.cfg.checkPublicURL(); err != nil {
		return err
	}
	s.chooseFal()
	if err := s.listen(); err != nil {
		return err
	}
	if err := s.migrate(ctx); err != nil {
		return err
	}
	if err := s.connect(ctx); err != nil {
		return err
	}
	if err := s.openSession(ctx); err != nil {
		return err
	}
	s.startPublisher()
	if err := s.authenticate(ctx); err != nil {
		return err
	}
	if err := s.startSimulator(ctx); err != nil {
		return err
	}
	if err := s.buildServices(ctx); err != nil {
		return err
	}
	if err := s.claimSimulator(ctx); err != nil {
		return err
	}
	s.buildFalClient()
	if err := s.startRiver(ctx); err != nil {
		return err
	}
	return s.serveHTTP(ctx, ready)
}

// deferCleanup registers f to run when Run returns, before what earlier
// steps registered, as a defer in Run would.
func (s *server) deferCleanup(f func()) { s.cleanups = append(s.cleanups, f) }

// cleanUp runs the cleanups, last registered first. Each runs deferred, so
// that one that panics does not skip the others, as with Run's own defers.
func (s *server) cleanUp() { runDeferred(s.cleanups) }

func runDeferred(fs []func()) {
	if len(fs) == 0 {
		return
	}
	defer fs[0]()
	runDeferred(fs[1:])
}

// goUntilCleanUp runs run in a goroutine until Run returns: its context is
// cancelled then, and Run waits for it to return.
func (s *server) goUntilCleanUp(ctx context.Context, run func(context.Context)) {
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(runCtx)
	}()
	s.deferCleanup(func() {
		stop()
		<-done
	})
}

// serveUntilDone serves until ctx ends, which a signal, the shutdown delay
// or a lease's stop does, or the HTTP server fails.
func (s *server) serveUntilDone(ctx context.Context) error {
	select {
	case err := <-s.serveErr:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	return nil
}

// shutdown stops the HTTP server, so that no request enqueues or cancels
// anything more, then River, letting running jobs finish. cleanUp undoes
// the rest, in the reverse of the order start took it: the routes'
// goroutines, the fal cancel sender and callback dispatcher (which run
// until River has stopped, so that what its last jobs queue is sent), the
// fal client's idle connections (before the simulator, whose shutdown
// would wait on them), the simulator's lease, tracing, the simulator, the
// publisher's last flush, the session, the pool and, last, the listener,
// whose server this has stopped already.
func (s *server) shutdown() {
	s.logger.Info("shutting down: finishing the HTTP requests under way")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := s.httpServer.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.logger.Warn("http shutdown", "error", err)
	}
	if s.cfg.Role.runsWorkers() {
		s.logger.Info("shutting down: HTTP server stopped; letting running jobs finish")
		stopRiver(s.river, s.logger)
	}
}
