package serve

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
)

// headAsGet answers HEAD wherever GET is served (RFC 9110 §9.3.2; load
// balancers probe with HEAD) by handing next a copy of the request that
// says GET. The server's own request still says HEAD, so net/http sends
// the GET's status and headers and drops whatever body is written.
//
// It wraps the whole Echo rather than being Echo Pre middleware because
// Echo routes by the method of the request it was given, not by the one
// middleware may set on the context.
func headAsGet(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			r = r.WithContext(context.WithValue(r.Context(), headRequestKey{}, true)) // a copy
			r.Method = http.MethodGet
		}
		next.ServeHTTP(w, r)
	})
}

type headRequestKey struct{}

// requestMethod is the method the client sent: HEAD for a request headAsGet
// turned into a GET.
func requestMethod(r *http.Request) string {
	if head, _ := r.Context().Value(headRequestKey{}).(bool); head {
		return http.MethodHead
	}
	return r.Method
}

// probedMethods are the methods wrongMethod asks the router about, in the
// order Echo lists them in Allow.
var probedMethods = []string{
	http.MethodConnect, http.MethodDelete, http.MethodGet, http.MethodHead, http.MethodPatch,
	http.MethodPost, "PROPFIND", http.MethodPut, http.MethodTrace, "REPORT",
}

// answerWrongMethods makes a known path asked with a method it does not
// serve a 405 method_not_allowed with Allow (OPTIONS: 204 with Allow), and
// any other path a 404.
//
// Echo would do that itself, but a group with middleware registers a
// catch-all for every path under its prefix so that the middleware runs
// even for a 404, and the catch-all takes a known path asked with the wrong
// method too; the gallery's groups have the prefix "", so theirs took every
// path outside /v1 (/v1 has a catch-all of its own, api.Handler.Register's).
// This one replaces theirs. It asks the router about each method at request
// time, so that routes added after it count as well.
func answerWrongMethods(e *echo.Echo) {
	e.RouteNotFound("/*", wrongMethod(e))
}

func wrongMethod(e *echo.Echo) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		served := make(map[string]bool)
		for _, r := range e.Routes() {
			served[r.Method+" "+r.Path] = true
		}
		var allowed []string
		for _, m := range probedMethods {
			// A route of m took the path when the route the router picked
			// is one of m: otherwise it picked a catch-all, or found the
			// path served by other methods only.
			probe := e.NewContext(req, nil)
			e.Router().Find(m, echo.GetPath(req), probe)
			if served[m+" "+probe.Path()] {
				allowed = append(allowed, m)
			}
		}
		if len(allowed) == 0 {
			return echo.ErrNotFound
		}
		if i := slices.Index(allowed, http.MethodGet); i >= 0 && !slices.Contains(allowed, http.MethodHead) {
			allowed = slices.Insert(allowed, i+1, http.MethodHead) // headAsGet's
		}
		c.Response().Header().Set(echo.HeaderAllow, strings.Join(append([]string{http.MethodOptions}, allowed...), ", "))
		if req.Method == http.MethodOptions {
			return c.NoContent(http.StatusNoContent)
		}
		return echo.ErrMethodNotAllowed
	}
}
