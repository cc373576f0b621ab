package serve

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/internal/buildinfo"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/metrics"
	"github.com/easelhq/easel/notify"
	"github.com/easelhq/easel/store"
	"github.com/easelhq/easel/web"
	"github.com/easelhq/easel/webhooks"
)

// listen opens the HTTP listener and serves the starting handler on it
// (starting_handler.go). It comes before migrate, so that /healthz answers
// while the database is waited for and migrated; before startSimulator,
// whose image URLs name the listener's address when EASEL_PUBLIC_URL is
// unset; and before River, which hands that URL to fal. Nothing but the
// starting handler is served before serveHTTP.
func (s *server) listen() error {
	listener, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return &ListenError{Addr: s.cfg.Addr, Err: err}
	}
	s.listener = listener
	s.deferCleanup(func() { listener.Close() })
	if s.cfg.PublicURL == "" {
		// fal is local (checkPublicURL): it reaches this listener.
		s.cfg.PublicURL = listenerURL(listener.Addr())
	}
	s.handler = newHandlerSwitch(newStartingHandler(s.logger))
	server := newHTTPServer(s.handler, defaultHTTPTimeouts)
	s.httpServer = server
	serveErr := make(chan error, 1)
	s.serveErr = serveErr
	go func() { serveErr <- server.Serve(listener) }()
	// A start that fails, or that a signal ends, stops serving here, the
	// last of its cleanups: requests are only ever answered 503 starting
	// meanwhile, and nothing they use is being closed. A shutdown has
	// stopped the server long before.
	s.deferCleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		_ = server.Shutdown(ctx)
	})
	s.logger.Info("easel starting: preparing the database", append([]any{"addr", listener.Addr().String()}, buildAttrs(buildinfo.Read())...)...)
	return nil
}

// authenticate builds, with the HTTP API, its key check, which reads the
// keys from the database: it comes once the pool is open.
func (s *server) authenticate(ctx context.Context) error {
	if !s.cfg.Role.runsHTTPAPI() {
		return nil
	}
	// Fails rather than serve /v1 without keys on a non-loopback address.
	// Open, until the first key, only if a keyless request costs nothing:
	// this process submits it, to its own simulator. With FAL_KEY, or
	// with workers elsewhere that may hold one (--role api), it would be
	// billed, and loopback callers include tunnels and proxies.
	simulated := s.cfg.FalKey == "" && s.cfg.Role.runsWorkers()
	auth, err := api.NewAuth(ctx, s.pool, api.AuthConfig{ListenAddr: s.listener.Addr(), ConfiguredAddr: s.cfg.Addr, Simulated: simulated,
		Logger: s.logger, KeyCacheTTL: api.DefaultKeyCacheTTL})
	if err != nil {
		return err
	}
	s.auth = auth
	return nil
}

// serveHTTP has the listener serve every route, the last step of a
// start-up: every route's dependencies run by then, River included. The
// HTTP server is the first thing a shutdown stops, and the routes' own
// goroutines stop after it, with cleanUp. ready is called only now, and
// easel serving logged: until now only the starting handler answered.
func (s *server) serveHTTP(ctx context.Context, ready func(addr string)) error {
	e, err := s.buildRoutes(ctx)
	if err != nil {
		return err
	}
	s.handler.serve(traceHTTP(e, s.tracerProvider))
	s.delay.serving(s.httpServer)
	// fal_queue_url says which fal this process talks to: fal.ai, an easel
	// sim, or its in-process simulator. FAL_KEY is never logged, nor a
	// password in the URL, for a proxy that wants one.
	falQueueURL := s.cfg.FalQueueURL
	if u, err := url.Parse(falQueueURL); err == nil {
		falQueueURL = u.Redacted()
	}
	// What fal is asked to keep of each submission, for whoever must
	// show that erasure reaches it: "unset" leaves the account's media
	// retention.
	mediaExpiration := "unset"
	if s.cfg.FalMediaExpiration > 0 {
		mediaExpiration = s.cfg.FalMediaExpiration.String()
	}
	s.logger.Info("easel serving", append([]any{"addr", s.listener.Addr().String(), "public_url", s.cfg.PublicURL, "role", string(s.cfg.Role),
		"fal_queue_url", falQueueURL, "fal_media_expiration", mediaExpiration, "fal_store_io", !s.cfg.FalDisableStoreIO}, buildAttrs(buildinfo.Read())...)...)
	if ready != nil {
		ready(s.listener.Addr().String())
	}
	return nil
}

// buildRoutes builds the Echo that serves every route of the process's role,
// and starts what the routes need running: the ?wait long-polls' listener
// and the operations endpoints (operations.go).
func (s *server) buildRoutes(ctx context.Context) (*echo.Echo, error) {
	cfg, pool, logger := s.cfg, s.pool, s.logger
	canceller := jobs.NewCanceller(pool, s.river, s.falClient, logger).WithPublisher(s.publisher).WithMetrics(s.metrics)
	// One LISTEN connection wakes every ?wait long-poll of this process.
	finished := notify.NewListener(pool, store.GenerationFinishedChannel, logger)
	if cfg.Role.runsHTTPAPI() {
		// Stopping it on shutdown also answers the waiting requests, so that
		// they do not hold up server.Shutdown.
		listenCtx, stopListening := context.WithCancel(ctx)
		go finished.Run(listenCtx)
		s.deferCleanup(func() {
			stopListening()
			<-finished.Done()
		})
	}
	// The gallery's sign-in also opens River UI in a browser; an https
	// public URL keeps its cookie Secure behind a TLS-terminating proxy.
	gallery := web.New(pool, logger, s.auth.RequireKey).WithPublicURL(cfg.PublicURL)
	e := newEcho(routes{pool: pool, verifier: s.verifier, auth: s.auth, gallery: gallery, canceller: canceller, finished: finished,
		publisher: s.publisher, metrics: s.metrics, callbackURLs: s.callbackURLs, simFiles: s.simFiles, delay: s.delay,
		role: cfg.Role, clientMaxPending: cfg.ClientMaxPending, logger: logger})
	opsCtx, stopOps := context.WithCancel(ctx)
	s.deferCleanup(stopOps)
	if err := mountOperations(opsCtx, e, s.metrics, s.river, gallery.RequireSession, cfg.Role, logger); err != nil {
		return nil, err
	}
	return e, nil
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

// routes is what newEcho's routes serve with.
type routes struct {
	pool         *pgxpool.Pool
	verifier     webhooks.Verifier
	auth         *api.Auth // nil unless role runs the HTTP API
	gallery      *web.Handler
	canceller    api.Canceller
	finished     *notify.Listener
	publisher    *notify.Publisher
	metrics      *metrics.Metrics
	callbackURLs api.CallbackURLChecker
	simFiles     http.Handler // nil with FAL_KEY
	delay        *shutdownDelay
	role         Role
	// clientMaxPending is EASEL_CLIENT_MAX_PENDING (Config.ClientMaxPending).
	clientMaxPending int
	logger           *slog.Logger
}

func newEcho(r routes) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = api.ErrorHandler(r.logger)
	// First, so that every request is counted, whichever route (webhooks,
	// /_sim, /metrics itself) or none took it, with the status its error
	// got from the handler above.
	e.Use(r.metrics.HTTPMiddleware())
	e.Use(recoverPanics)

	// Every GET is served for HEAD too (RFC 9110 §9.3.2; load balancers
	// probe with it): Echo writes GET's status and headers, and net/http
	// drops the body. Middleware goes on routes, never on a group: a group
	// with middleware adds a catch-all route, which would answer 404 where
	// Echo answers a known path asked with another method 405 with Allow.
	e.Match(getHead, "/healthz", healthz)
	// Only readiness fails during EASEL_SHUTDOWN_DELAY: a failing liveness
	// probe would have the process killed mid-shutdown.
	e.Match(getHead, "/readyz", func(c echo.Context) error {
		if r.delay.shuttingDown() {
			return apierror.New(http.StatusServiceUnavailable, "shutting_down", "easel serve is shutting down")
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if err := r.pool.Ping(ctx); err != nil {
			return apierror.New(http.StatusServiceUnavailable, "database_unavailable", "database unreachable")
		}
		return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
	})
	if r.simFiles != nil {
		// Public, as fal's file URLs are: the gallery's <img> tags load
		// them without credentials. Every role serves them: the URLs name
		// EASEL_PUBLIC_URL, whichever process that reaches.
		e.Match(getHead, simulatorFilesPath+"/*", echo.WrapHandler(r.simFiles))
	}
	if r.role.runsHTTPAPI() {
		e.Match(getHead, "/openapi.yaml", api.ServeOpenAPI)
		api.NewHandler(r.pool, r.logger).WithCanceller(r.canceller).WithListener(r.finished).WithCallbackURLs(r.callbackURLs).
			WithMaxPending(r.clientMaxPending).Register(e.Group("/v1"), r.auth.RequireKey)
		webhooks.NewReceiver(r.pool, r.verifier, r.logger).WithMetrics(r.metrics).WithPublisher(r.publisher).Register(e)
		r.gallery.Register(e)
	}
	return e
}

// getHead are the methods of a route serving GET.
var getHead = []string{http.MethodGet, http.MethodHead}
