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
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/metrics"
	"github.com/easelhq/easel/migrations"
	"github.com/easelhq/easel/notify"
	"github.com/easelhq/easel/store"
	"github.com/easelhq/easel/web"
	"github.com/easelhq/easel/webhooks"
)

// SimulatorKey is the FAL_KEY Easel uses against its in-process simulator.
const SimulatorKey = "easel-simulator:not-a-secret"

// shutdownTimeout bounds each step of a shutdown: in-flight requests
// finishing, then running jobs finishing, then, if they did not, running
// jobs returning once cancelled.
const shutdownTimeout = 15 * time.Second

// DefaultDBMaxConns is EASEL_DB_MAX_CONNS's default for a process with
// workers River workers: one connection per worker, which holds it across
// its short transactions, and some for HTTP requests and River's own
// maintenance. pgxpool's default, max(4, CPUs), had 16 workers and every
// HTTP request share 4 connections. At today's throughput the two measured
// alike (docs/BENCHMARKS.md); the larger pool keeps the pool from becoming
// the limit as statements get cheaper.
func DefaultDBMaxConns(workers int) int { return workers + 8 }

// Run serves until ctx is cancelled, then shuts down gracefully. ready, if
// not nil, receives the listener's address once requests are accepted. It
// also shuts down, and returns an error saying why, if a process it must
// not share the database with turns out to run on it (fal_mode_guard.go).
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
	defer func() {
		if err == nil && !shutdownStart.IsZero() {
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
	if err := cfg.checkPublicURL(); err != nil {
		return err
	}
	// Read before the simulator replaces FalKey with SimulatorKey.
	mode := falModeOf(cfg)
	var simCfg falsim.Config
	if cfg.FalKey == "" {
		simCfg = SimulatorConfig(logger)
		if cfg.Simulator != nil {
			simCfg = *cfg.Simulator
		}
		// Said first, before the database is created and migrated, so that
		// nobody mistakes a local run for one that pays fal.
		logger.Info("FAL_KEY is unset: using the in-process fal simulator; no request reaches fal.ai", "faults", simCfg.Summary())
	}
	migrate := func(ctx context.Context) error {
		if created, err := migrations.EnsureDatabase(ctx, cfg.DatabaseURL); err != nil {
			return err
		} else if created {
			name, _ := migrations.DatabaseName(cfg.DatabaseURL) // parsed already
			logger.Info("created database", "database", name)
		}
		return migrations.Up(ctx, cfg.DatabaseURL, logger)
	}
	if err := prepareDatabase(ctx, connectTo(cfg.DatabaseURL), migrate, logger, databaseStartWait, 100*time.Millisecond); err != nil {
		return err
	}

	poolCfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	// EASEL_DB_MAX_CONNS wins; a DATABASE_URL shared with a service's own
	// pgxpool may say pool_max_conns instead, and is honoured then.
	switch {
	case cfg.DBMaxConns > 0:
		poolCfg.MaxConns = int32(cfg.DBMaxConns)
	case !strings.Contains(cfg.DatabaseURL, "pool_max_conns"):
		poolCfg.MaxConns = int32(DefaultDBMaxConns(cfg.Workers))
	}
	poolCfg.AfterConnect = store.RegisterTypes
	setApplicationName(poolCfg.ConnConfig, cfg.Role)
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return fmt.Errorf("connect to database: %w", err)
	}
	defer pool.Close()
	// First, before this process changes a generation or submits
	// anything: a process submitting to fal and one submitting to its
	// simulator must never share a database (fal_mode_guard.go). The
	// session also holds the simulator's lock, taken later.
	var session *sessionLease
	if mode != 0 || cfg.FalKey == "" {
		if session, err = openLease(ctx, pool, logger, stopServing); err != nil {
			return err
		}
		// Deferred this early, it runs once River has stopped; a
		// simulatorLease releases it sooner.
		defer session.release()
		if err := guardFalMode(ctx, session, mode); err != nil {
			return err
		}
		if cfg.FalKey != "" { // no simulator, whose lock holdSimulator adds
			session.hold(ctx)
		}
	}
	// Announces every generation this process finishes, so that those
	// finished within a few milliseconds share a notification; what it
	// still holds at shutdown is sent before the pool closes.
	publisher := notify.NewPublisher(pool, store.GenerationFinishedChannel, logger)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		_ = publisher.Flush(ctx)
	}()

	listener, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on EASEL_ADDR %s: %w", cfg.Addr, err)
	}
	defer listener.Close()
	if cfg.PublicURL == "" {
		// fal is local (checkPublicURL): it reaches this listener.
		cfg.PublicURL = listenerURL(listener.Addr())
	}
	var auth *api.Auth
	if cfg.Role.runsHTTPAPI() {
		// Fails rather than serve /v1 without keys on a non-loopback address.
		// Open, until the first key, only if a keyless request costs nothing:
		// this process submits it, to its own simulator. With FAL_KEY, or
		// with workers elsewhere that may hold one (--role api), it would be
		// billed, and loopback callers include tunnels and proxies.
		simulated := cfg.FalKey == "" && cfg.Role.runsWorkers()
		if auth, err = api.NewAuth(ctx, pool, api.AuthConfig{ListenAddr: listener.Addr(), ConfiguredAddr: cfg.Addr, Simulated: simulated,
			Logger: logger, KeyCacheTTL: api.DefaultKeyCacheTTL}); err != nil {
			return err
		}
	}

	// simFiles serves the simulator's images on this listener.
	var simFiles http.Handler
	if cfg.FalKey == "" {
		// The simulator's own port is loopback and new at every start, so
		// image URLs on it would die with the process and never reach a
		// browser outside a container. They point at this listener
		// instead, as users reach it: the files are rendered from their
		// paths, so a URL stored before a restart still loads after it.
		if simCfg.FilesURL == "" {
			simCfg.FilesURL = cfg.PublicURL + simulatorFilesPath
		}
		// It closes when its context ends; a shutdown closes it last
		// instead, once the jobs calling it have finished.
		sim, err := falsim.Start(context.WithoutCancel(ctx), "127.0.0.1:0", simCfg)
		if err != nil {
			return fmt.Errorf("start fal simulator: %w", err)
		}
		defer sim.Close()
		cfg.FalKey, cfg.FalQueueURL, cfg.FalJWKSURL = SimulatorKey, sim.QueueURL(), sim.JWKSURL()
		simFiles = http.StripPrefix(simulatorFilesPath, sim.Sim.FilesHandler())
		logger.Info("fal simulator started", "fal_queue_url", cfg.FalQueueURL, "files_url", simCfg.FilesURL)
	}

	tracerProvider, stopTracing, err := setupTracing(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer stopTracing()
	deliverer, callbackURLs, err := newCallbacks(cfg, logger)
	if err != nil {
		return err
	}
	m := metrics.New(pool, metrics.Config{MaxInflight: cfg.MaxInflight, Logger: logger, Pool: pool})
	if simFiles != nil {
		// Before River submits anything to the in-process simulator: fails
		// what earlier simulators left, which can never finish, and claims
		// this one's generations (simulator_restart.go).
		lease, err := holdSimulator(ctx, session, cfg.FalQueueURL, publisher, m, logger)
		if err != nil {
			return err
		}
		// Run after River and the HTTP server have stopped: what the
		// simulator still holds then can never finish.
		defer lease.release()
	}

	// Every call to fal, whichever worker or request makes it, is counted.
	falClient := m.CountFal(fal.NewClient(fal.ClientConfig{QueueURL: cfg.FalQueueURL, Key: cfg.FalKey}))
	verifier := fal.NewVerifier(fal.VerifierConfig{Keys: fal.NewJWKS(fal.JWKSConfig{URL: cfg.FalJWKSURL})})

	riverClient, err := jobs.NewRiverClient(pool, jobs.Config{
		Fal:             falClient,
		PublicURL:       cfg.PublicURL,
		MaxWorkers:      cfg.Workers,
		Limits:          store.InflightLimits{Global: cfg.MaxInflight, PerClient: cfg.ClientMaxInflight},
		PollAfter:       cfg.PollAfter,
		Timeout:         cfg.Timeout,
		RescueAfter:     cfg.RescueAfter,
		Callbacks:       deliverer,
		CallbackWorkers: cfg.CallbackWorkers,
		Metrics:         m,
		Middleware:      riverTracing(tracerProvider),
		Publisher:       publisher,
		Logger:          logger,
	})
	if err != nil {
		return err
	}
	if cfg.Role.runsWorkers() {
		// River cancels its running jobs when Start's context ends; the
		// shutdown stops it gracefully instead.
		if err := riverClient.Start(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("start River: %w", err)
		}
		// After a shutdown it has stopped already, and this returns at once.
		defer stopRiver(riverClient, logger)
		dispatchCtx, stopDispatching := context.WithCancel(ctx)
		dispatched := make(chan struct{})
		go func() {
			defer close(dispatched)
			jobs.NewCallbackDispatcher(pool, riverClient, logger).WithMetrics(m).Run(dispatchCtx)
		}()
		defer func() {
			stopDispatching()
			<-dispatched
		}()
		// Sends a superseded request's cancel as soon as the webhook that
		// superseded it commits, rather than at the reconciler's next run.
		// Its listening connection is its own: notify.Listener takes one
		// channel, and finished's runs only with the HTTP API.
		cancelSender, err := jobs.NewFalCancelSender(pool, jobs.Config{Fal: falClient, PollAfter: cfg.PollAfter,
			Timeout: cfg.Timeout, RescueAfter: cfg.RescueAfter, Logger: logger})
		if err != nil {
			return err
		}
		sendCtx, stopSending := context.WithCancel(ctx)
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			cancelSender.Run(sendCtx)
		}()
		defer func() {
			stopSending()
			<-sent
		}()
	}

	canceller := jobs.NewCanceller(pool, riverClient, falClient, logger).WithPublisher(publisher).WithMetrics(m)
	// One LISTEN connection wakes every ?wait long-poll of this process.
	finished := notify.NewListener(pool, store.GenerationFinishedChannel, logger)
	if cfg.Role.runsHTTPAPI() {
		// Stopping it on shutdown also answers the waiting requests, so that
		// they do not hold up server.Shutdown.
		listenCtx, stopListening := context.WithCancel(ctx)
		go finished.Run(listenCtx)
		defer func() {
			stopListening()
			<-finished.Done()
		}()
	}
	// The gallery's sign-in also opens River UI in a browser; an https
	// public URL keeps its cookie Secure behind a TLS-terminating proxy.
	gallery := web.New(pool, logger, auth.RequireKey).WithPublicURL(cfg.PublicURL)
	e := newEcho(pool, verifier, auth, gallery, canceller, finished, publisher, m, callbackURLs, simFiles, delay, cfg, logger)
	opsCtx, stopOps := context.WithCancel(ctx)
	defer stopOps()
	if err := mountOperations(opsCtx, e, m, riverClient, gallery.RequireSession, cfg.Role, logger); err != nil {
		return err
	}
	server := newHTTPServer(traceHTTP(e, tracerProvider), defaultHTTPTimeouts)
	serveErr := make(chan error, 1)
	go func() { serveErr <- server.Serve(listener) }()
	delay.serving(server)
	// fal_queue_url says which fal this process talks to: fal.ai, an easel
	// sim, or its in-process simulator. FAL_KEY is never logged, nor a
	// password in the URL, for a proxy that wants one.
	falQueueURL := cfg.FalQueueURL
	if u, err := url.Parse(falQueueURL); err == nil {
		falQueueURL = u.Redacted()
	}
	logger.Info("easel serving", "addr", listener.Addr().String(), "public_url", cfg.PublicURL, "role", string(cfg.Role), "fal_queue_url", falQueueURL)
	if ready != nil {
		ready(listener.Addr().String())
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	shutdownStart = delay.startedOr(time.Now())
	logger.Info("shutting down: finishing the HTTP requests under way")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := server.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Warn("http shutdown", "error", err)
	}
	if cfg.Role.runsWorkers() {
		logger.Info("shutting down: HTTP server stopped; letting running jobs finish")
		stopRiver(riverClient, logger)
	}
	return nil
}

// httpTimeouts bound how long a client may hold a connection of the HTTP
// server without getting on with it.
type httpTimeouts struct {
	readHeader time.Duration
	// read covers a whole request, body included: without it a client
	// could trickle a POST /v1/generations body (api.MaxBodyBytes) or a
	// webhook's (webhooks.MaxBodyBytes) a byte at a time and hold a
	// connection and a goroutine for ever.
	read time.Duration
	// idle closes keep-alive connections nobody sends on, each of which
	// holds a file descriptor. Zero would mean read's value; longer lets a
	// caller that enqueues or polls every minute or so keep reusing its
	// connections.
	idle time.Duration
}

// defaultHTTPTimeouts are easel serve's. read lets an 8 MiB body arrive
// at under 300 KB/s, far slower than any backend calling Easel.
//
// There is no write timeout: net/http's runs from the end of a request's
// headers to the end of its response, so it caps the handler's whole run,
// and GET /v1/generations/{id}?wait= holds a request for up to api.MaxWait
// by design. A value above it would have to track MaxWait, and would only
// stop clients that stop reading a response too large for the socket
// buffers, which few of Easel's are.
var defaultHTTPTimeouts = httpTimeouts{readHeader: 10 * time.Second, read: 30 * time.Second, idle: 120 * time.Second}

// maxHeaderBytes bounds a request's line and headers, answered 431 beyond
// it. net/http's default is 1 MiB, all of it read before any handler runs,
// and a webhook's headers are the sender's until its signature verifies.
// Easel's own requests need a few KiB (an API key, a session cookie);
// 64 KiB leaves room for whatever a proxy in front adds.
const maxHeaderBytes = 64 << 10

func newHTTPServer(handler http.Handler, t httpTimeouts) *http.Server {
	return &http.Server{Handler: handler, ReadHeaderTimeout: t.readHeader, ReadTimeout: t.read, IdleTimeout: t.idle,
		MaxHeaderBytes: maxHeaderBytes}
}

// simulatorFilesPath is where easel serve serves the images of its
// in-process simulator, below EASEL_PUBLIC_URL.
const simulatorFilesPath = "/_sim/files"

// SimulatorConfig is the in-process simulator easel serve starts without
// FAL_KEY: fault-free, with enough latency to watch a generation progress.
func SimulatorConfig(logger *slog.Logger) falsim.Config {
	return falsim.Config{
		Latency: falsim.Latency{Min: 500 * time.Millisecond, Max: 2 * time.Second},
		Logger:  logger,
	}
}

// stopRiver lets running jobs finish for shutdownTimeout, then cancels
// those still running and waits as long again for them to return.
func stopRiver(client *river.Client[pgx.Tx], logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := client.Stop(ctx)
	if err == nil {
		return
	}
	logger.Warn("jobs still running at the end of the shutdown timeout; cancelling them", "timeout", shutdownTimeout.String(), "error", err)
	ctx, cancel = context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := client.StopAndCancel(ctx); err != nil {
		logger.Error("cancelled jobs did not return; exiting anyway", "error", err)
	}
}

func newEcho(pool *pgxpool.Pool, verifier webhooks.Verifier, auth *api.Auth, gallery *web.Handler, canceller api.Canceller,
	finished *notify.Listener, publisher *notify.Publisher, m *metrics.Metrics, callbackURLs api.CallbackURLChecker,
	simFiles http.Handler, delay *shutdownDelay, cfg Config, logger *slog.Logger,
) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = api.ErrorHandler(logger)
	// First, so that every request is counted, whichever route (webhooks,
	// /_sim, /metrics itself) or none took it, with the status its error
	// got from the handler above.
	e.Use(m.HTTPMiddleware())

	// Every GET is served for HEAD too (RFC 9110 §9.3.2; load balancers
	// probe with it): Echo writes GET's status and headers, and net/http
	// drops the body. Middleware goes on routes, never on a group: a group
	// with middleware adds a catch-all route, which would answer 404 where
	// Echo answers a known path asked with another method 405 with Allow.
	e.Match(getHead, "/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	// Only readiness fails during EASEL_SHUTDOWN_DELAY: a failing liveness
	// probe would have the process killed mid-shutdown.
	e.Match(getHead, "/readyz", func(c echo.Context) error {
		if delay.shuttingDown() {
			return apierror.New(http.StatusServiceUnavailable, "shutting_down", "easel serve is shutting down")
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if err := pool.Ping(ctx); err != nil {
			return apierror.New(http.StatusServiceUnavailable, "database_unavailable", "database unreachable")
		}
		return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
	})
	if simFiles != nil {
		// Public, as fal's file URLs are: the gallery's <img> tags load
		// them without credentials. Every role serves them: the URLs name
		// EASEL_PUBLIC_URL, whichever process that reaches.
		e.Match(getHead, simulatorFilesPath+"/*", echo.WrapHandler(simFiles))
	}
	if cfg.Role.runsHTTPAPI() {
		e.Match(getHead, "/openapi.yaml", api.ServeOpenAPI)
		api.NewHandler(pool, logger).WithCanceller(canceller).WithListener(finished).WithCallbackURLs(callbackURLs).
			WithMaxPending(cfg.ClientMaxPending).Register(e.Group("/v1"), auth.RequireKey)
		webhooks.NewReceiver(pool, verifier, logger).WithMetrics(m).WithPublisher(publisher).Register(e)
		gallery.Register(e)
	}
	return e
}

// getHead are the methods of a route serving GET.
var getHead = []string{http.MethodGet, http.MethodHead}
