package web

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/internal/logthrottle"
	"github.com/easelhq/easel/store"
)

// Handler serves the gallery pages.
type Handler struct {
	pool       *pgxpool.Pool
	logger     *slog.Logger
	requireKey echo.MiddlewareFunc
	pages      *pages
	assets     *assets
	// httpsOnly is true when Easel's public URL is https: the session
	// cookie is then Secure even when a proxy in front terminates TLS
	// without saying so in X-Forwarded-Proto.
	httpsOnly bool
	// databaseOutage counts the requests answered 503 since the database
	// last answered one, and throttles their WARN lines.
	databaseOutage *logthrottle.Outage
}

// New returns a Handler. requireKey is the /v1 API's authentication
// middleware (api.Auth.RequireKey): whatever it admits, the gallery admits
// too, and a person it turns away is sent to sign in.
func New(pool *pgxpool.Pool, logger *slog.Logger, requireKey echo.MiddlewareFunc) *Handler {
	a := loadAssets()
	return &Handler{pool: pool, logger: logger, requireKey: requireKey, pages: parsePages(a), assets: a,
		databaseOutage: logthrottle.NewOutage(databaseLogEvery, nil)}
}

// WithPublicURL tells h the base URL people reach Easel at
// (EASEL_PUBLIC_URL): when it is https, the session cookie is always
// Secure. It returns h.
func (h *Handler) WithPublicURL(publicURL string) *Handler {
	u, err := url.Parse(publicURL)
	h.httpsOnly = err == nil && strings.EqualFold(u.Scheme, "https")
	return h
}

// Register mounts the gallery on e: /, /generations/{id}, /login, /logout
// and /static/, every GET for HEAD too (RFC 9110 §9.3.2): Echo writes GET's
// status and headers, and net/http drops the body.
//
// The middleware goes on each route rather than on a group: a group with
// middleware adds a catch-all route for every path under its prefix, here
// "", which would answer 404 where Echo answers a known path asked with
// another method 405 with Allow (OPTIONS: 204 with Allow).
func (h *Handler) Register(e *echo.Echo) {
	getHead := []string{http.MethodGet, http.MethodHead}
	e.Match(getHead, "/static/:name", h.assets.serve)

	e.Match(getHead, "/login", h.loginForm, securityHeaders)
	e.POST("/login", h.login, securityHeaders, sameOrigin)
	e.POST("/logout", h.logout, securityHeaders, sameOrigin)

	e.Match(getHead, "/", h.gallery, securityHeaders, h.RequireSession)
	e.Match(getHead, "/generations/:id", h.detail, securityHeaders, h.RequireSession)
	e.Match(getHead, "/generations/:id/state", h.state, securityHeaders, h.RequireSession)
}

// securityHeaders keeps pages from loading anything but Easel's own script
// and style, from being framed, and from being cached: they show private
// prompts and images. Images may come from anywhere, as fal's CDN serves
// them.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "+
			"img-src https: http: data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set(echo.HeaderCacheControl, "no-store")
		return next(c)
	}
}

// render writes page name with data, or an error page when rendering fails.
// Rendering into a buffer first keeps a template error from sending half a
// page with a 200.
func (h *Handler) render(c echo.Context, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := h.pages.execute(&buf, name, data); err != nil {
		return h.serverError(c, err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// errorPage is the view of an error.
type errorPage struct {
	chrome
	Status  int
	Message string
	Details []string // one line per problem, under Message
}

func (h *Handler) renderError(c echo.Context, status int, message string, details ...string) error {
	return h.render(c, status, "error", errorPage{
		chrome:  chromeOf(c, http.StatusText(status)),
		Status:  status,
		Message: message,
		Details: details,
	})
}

// serverError logs err and answers a page that hides it: a 503 with
// Retry-After when the database could not be reached, as /v1 answers then
// (and logged as a warning, throttled, as /v1 logs it: an outage of
// Postgres is not a bug in Easel, and the request may succeed when
// retried; see logDatabaseUnavailable), and a 500 otherwise.
func (h *Handler) serverError(c echo.Context, err error) error {
	req := c.Request()
	status, title, message := http.StatusInternalServerError, "Internal error", "Something went wrong; the server log has the details."
	if retryAfter, ok := apierror.DatabaseUnavailable(err); ok {
		h.logDatabaseUnavailable(req, err)
		c.Response().Header().Set("Retry-After", retryAfter)
		status, title = http.StatusServiceUnavailable, "Database unavailable"
		message = "Easel cannot reach its database, so this page cannot be shown right now. Retry in a few seconds."
	} else {
		h.logger.Error("gallery request failed", "method", req.Method, "path", req.URL.Path, "error", err)
	}
	var buf bytes.Buffer
	view := errorPage{chrome: chromeOf(c, title), Status: status, Message: message}
	if renderErr := h.pages.execute(&buf, "error", view); renderErr != nil {
		return errors.Join(err, renderErr)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// databaseLogEvery is how often at most the gallery logs the requests it
// answers 503 because the database cannot be reached: while it is down
// every page view is one, and a line each buries the few that say
// something new.
const databaseLogEvery = time.Minute

// logDatabaseUnavailable logs req, answered 503 for err, at WARN for the
// first such failure and then at most once a databaseLogEvery, with
// repeated, the failures the line stands for (itself included), and since,
// when the first of them came, once it stands for more than itself; the
// others go to DEBUG. noteDatabase says when the database is back.
func (h *Handler) logDatabaseUnavailable(req *http.Request, err error) {
	const msg = "gallery request failed: database unavailable"
	args := []any{"method", req.Method, "path", req.URL.Path, "error", err}
	n, since, ok := h.databaseOutage.Failed("")
	if !ok {
		h.logger.Debug(msg, args...)
		return
	}
	if n > 1 {
		args = append(args, "repeated", n, "since", since)
	}
	h.logger.Warn(msg, args...)
}

// noteDatabase notes how the database answered a query of the gallery's
// that returned err: the first answer after failures of which a WARN was
// logged is an Info "database reachable again", with the failures and how
// long they lasted, so that the last line about the gallery's database
// says whether it is up. A failure counts nothing here: serverError has
// counted it, if it answered 503.
func (h *Handler) noteDatabase(err error) {
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return
	}
	if failures, downFor, ok := h.databaseOutage.Recovered(); ok {
		// Durations as text ("1m30s"), where a JSON handler would write
		// integer nanoseconds.
		h.logger.Info("database reachable again", "component", "gallery", "failures", failures,
			"down_for", downFor.String())
	}
}

// wantsHTML reports whether the request is a browser's asking for a page
// rather than a script's (the detail page's poll, River UI's API calls).
func wantsHTML(c echo.Context) bool {
	return strings.Contains(c.Request().Header.Get(echo.HeaderAccept), "text/html")
}

// chrome is what every page's frame shows.
type chrome struct {
	Title   string
	Account string // the signed-in key's name; empty when not signed in
	Gallery bool   // the page is the gallery, which the header's Gallery link marks as current
}

func chromeOf(c echo.Context, title string) chrome {
	account, _ := c.Get(accountKey).(string)
	return chrome{Title: title, Account: account}
}
