package web

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/store"
)

// SessionTTL is how long a gallery sign-in lasts.
const SessionTTL = 12 * time.Hour

const (
	sessionCookie = "easel_session"
	accountKey    = "easel.web.account"
	// maxKeyLen is far above any API key's length; a longer value is not a
	// key and costs neither a hash nor a query.
	maxKeyLen = 256
	// maxLoginFormBytes bounds the sign-in form, which holds a key and a
	// path: far more than either needs, and too little for anyone to take
	// the server's memory or disk by the connection.
	maxLoginFormBytes = 4 << 10
)

// RequireSession is Echo middleware that admits a request with a live
// session cookie, or one that the API's own middleware admits (open mode,
// or a Bearer key). A browser turned away is sent to sign in; a script gets
// a 401. It guards the gallery, and other pages people open in a browser,
// such as River UI, so that one sign-in opens them all.
//
// A browser sends the cookie whichever page made the request, and
// SameSite=Lax still sends it from a sibling subdomain (same site, other
// origin), so a request admitted by the cookie that is not a GET, HEAD or
// OPTIONS must come from Easel's own origin: River UI's cancel, retry and
// delete are such requests. Others are refused with 403. The API's
// middleware checks the same of the keyless requests it admits while open.
func (h *Handler) RequireSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if cookie, err := c.Cookie(sessionCookie); err == nil && cookie.Value != "" {
			key, err := store.GetWebSessionKey(c.Request().Context(), h.pool, hashToken(cookie.Value))
			h.noteDatabase(err)
			switch {
			case err == nil:
				if err := crossOrigin.Check(c.Request()); err != nil {
					return errCrossOrigin
				}
				c.Set(accountKey, key.Name)
				return next(c)
			case errors.Is(err, store.ErrNotFound): // expired, signed out, or its key revoked
				c.SetCookie(h.sessionCookieOf(c, "", -1))
			default:
				return h.guardError(c, err)
			}
		}

		reached := false
		err := h.requireKey(func(c echo.Context) error {
			reached = true
			return next(c)
		})(c)
		switch {
		case reached:
			return err
		case !isUnauthorized(err):
			return h.guardError(c, err)
		case wantsHTML(c):
			return c.Redirect(http.StatusSeeOther, "/login?"+url.Values{"next": {c.Request().URL.RequestURI()}}.Encode())
		default:
			return apierror.New(http.StatusUnauthorized, "unauthorized",
				"sign in at /login, or send Authorization: Bearer <key> (`easel keys create NAME` creates a key)")
		}
	}
}

// guardError answers a request RequireSession could not decide on, or that
// the API's middleware refused other than for a missing key (the open API's
// 403 for a foreign Host or another site's request): a browser gets a page,
// and a script the API's JSON error, which the server's error handler
// (apierror.Handler) writes and logs.
func (h *Handler) guardError(c echo.Context, err error) error {
	if !wantsHTML(c) {
		return err
	}
	var apiErr *apierror.Error
	if errors.As(err, &apiErr) && apiErr.Status < http.StatusInternalServerError {
		return h.renderError(c, apiErr.Status, apiErr.Message)
	}
	return h.serverError(c, err)
}

func isUnauthorized(err error) bool {
	var apiErr *apierror.Error
	var httpErr *echo.HTTPError
	return errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized ||
		errors.As(err, &httpErr) && httpErr.Code == http.StatusUnauthorized
}

type loginPage struct {
	chrome
	Next  string
	Error string
}

func (h *Handler) loginForm(c echo.Context) error {
	return h.render(c, http.StatusOK, "login", loginPage{chrome: chromeOf(c, "Sign in"), Next: localPath(c.QueryParam("next"))})
}

func (h *Handler) login(c echo.Context) error {
	view := loginPage{chrome: chromeOf(c, "Sign in"), Next: localPath(c.QueryParam("next"))}
	form, status, problem := readLoginForm(c)
	if problem != "" {
		view.Error = problem
		return h.render(c, status, "login", view)
	}
	view.Next = localPath(form.Get("next"))
	key := strings.TrimSpace(form.Get("key"))
	if key == "" || len(key) > maxKeyLen {
		view.Error = "Enter an API key."
		return h.render(c, http.StatusUnprocessableEntity, "login", view)
	}
	ctx := c.Request().Context()
	sum := sha256.Sum256([]byte(key)) // api_keys stores each key's SHA-256
	apiKey, err := store.GetActiveAPIKey(ctx, h.pool, sum[:])
	h.noteDatabase(err)
	if errors.Is(err, store.ErrNotFound) {
		h.logger.Info("gallery sign-in refused", "remote_addr", remoteAddr(c))
		view.Error = "That key is not valid, or it was revoked."
		return h.render(c, http.StatusUnauthorized, "login", view)
	}
	if err != nil {
		return h.serverError(c, err)
	}

	token := rand.Text()
	if err := store.InsertWebSession(ctx, h.pool, hashToken(token), apiKey.ID, time.Now().Add(SessionTTL)); err != nil {
		return h.serverError(c, err)
	}
	h.logger.Info("gallery sign-in", "key_name", apiKey.Name, "remote_addr", remoteAddr(c))
	c.SetCookie(h.sessionCookieOf(c, token, int(SessionTTL/time.Second)))
	return c.Redirect(http.StatusSeeOther, view.Next)
}

// readLoginForm reads the sign-in form before anything else is done: only
// as the page's form sends it, URL-encoded, and at most maxLoginFormBytes,
// so that nobody who can reach the server makes it read or store more. A
// form it refuses comes back as the status and the message to show.
// Echo's FormValue would parse a multipart body whole, up to 32 MiB in
// memory and the rest in temporary files, and hide any error.
func readLoginForm(c echo.Context) (url.Values, int, string) {
	req := c.Request()
	if media, _, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType)); err != nil || media != echo.MIMEApplicationForm {
		return nil, http.StatusUnsupportedMediaType, "Send the sign-in form as application/x-www-form-urlencoded, as this page does."
	}
	const tooLarge = "The sign-in form is too large: it holds an API key and a path, and may not exceed 4 KiB."
	if req.ContentLength > maxLoginFormBytes {
		return nil, http.StatusRequestEntityTooLarge, tooLarge
	}
	// Only the body: ParseForm would parse the URL's query too, and refuse
	// the form for a query it does not read (the form carries next).
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, maxLoginFormBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, http.StatusRequestEntityTooLarge, tooLarge
		}
		return nil, http.StatusBadRequest, "The sign-in form could not be read."
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, http.StatusBadRequest, "The sign-in form could not be read: it is not URL-encoded."
	}
	return form, 0, ""
}

func (h *Handler) logout(c echo.Context) error {
	if cookie, err := c.Cookie(sessionCookie); err == nil && cookie.Value != "" {
		err := store.DeleteWebSession(c.Request().Context(), h.pool, hashToken(cookie.Value))
		h.noteDatabase(err)
		if err != nil {
			return h.serverError(c, err)
		}
	}
	c.SetCookie(h.sessionCookieOf(c, "", -1))
	return c.Redirect(http.StatusSeeOther, "/login")
}

// remoteAddr is the address of the connection a request came on, which a
// sign-in log names. Not c.RealIP: with no IPExtractor configured, Echo
// takes X-Forwarded-For and X-Real-IP at the client's word, so anyone could
// write any address into the log. Easel knows of no proxy it could trust
// those headers from; behind one, the log names the proxy.
func remoteAddr(c echo.Context) string { return c.Request().RemoteAddr }

// sessionCookieOf returns the session cookie holding token for maxAge
// seconds; a negative maxAge deletes it. Lax keeps it off cross-site POSTs
// while links into the gallery from chat or mail still work. It is Secure
// when the request came over HTTPS as Echo sees it (TLS here, or a proxy's
// X-Forwarded-Proto), or when Easel's public URL is https.
func (h *Handler) sessionCookieOf(c echo.Context, token string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: h.httpsOnly || c.Scheme() == "https",
	}
}

// hashToken is how a session token is stored: the token is random, so a
// plain SHA-256 suffices to make a copy of the table useless.
func hashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// localPath returns next when it is a path on this server, and "/"
// otherwise, so that the sign-in form cannot be made to redirect elsewhere.
func localPath(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil ||
		!strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/"
	}
	return next
}

// crossOrigin turns away state-changing requests that a browser made on
// behalf of another site (Sec-Fetch-Site / Origin), the CSRF defence of the
// sign-in and sign-out forms.
var crossOrigin = http.NewCrossOriginProtection()

// errCrossOrigin is the answer to such a request, with the code the open
// API gives its own refusals of them.
var errCrossOrigin = apierror.New(http.StatusForbidden, "cross_origin", "cross-origin request refused")

func sameOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := crossOrigin.Check(c.Request()); err != nil {
			return errCrossOrigin
		}
		return next(c)
	}
}
