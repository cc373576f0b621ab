package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
)

// route is one /v1 operation, its path relative to the group.
type route struct {
	method, path string
	handler      echo.HandlerFunc
}

// routes serves every GET for HEAD too (RFC 9110 §9.3.2), through asGet.
func (h *Handler) routes() []route {
	return []route{
		{http.MethodPost, "/generations", h.create},
		{http.MethodGet, "/generations", h.list},
		{http.MethodHead, "/generations", asGet(h.list)},
		{http.MethodGet, "/generations/:id", h.get},
		{http.MethodHead, "/generations/:id", asGet(h.get)},
		{http.MethodPost, "/generations/:id/cancel", h.cancel},
	}
}

// asGet answers a HEAD request as the GET it mirrors: next and the error
// handler see a copy of the request that says GET, so they answer with
// GET's status and headers, Content-Type included; net/http, whose own
// request still says HEAD, drops the body. (easel serve turns HEAD into
// GET before routing, so these routes serve api.Handler used on its own.)
func asGet(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request().WithContext(c.Request().Context()) // a copy
		req.Method = http.MethodGet
		c.SetRequest(req)
		return next(c)
	}
}

// Register mounts the /v1 routes on g.
//
// A group with middleware (easel serve's has Auth.RequireKey) catches every
// path under it that Echo cannot route, so that the middleware runs even
// for a 404; that catch-all also takes a known path asked with another
// method, which Echo would otherwise answer 405. Register replaces it with
// one that answers those 405 with Allow, as Echo does (OPTIONS: 204 with
// Allow), and anything else 404.
func (h *Handler) Register(g *echo.Group) {
	routes := h.routes()
	for _, r := range routes {
		g.Add(r.method, r.path, r.handler)
	}
	g.RouteNotFound("/*", methodNotAllowed(routes))
}

// methodNotAllowed answers a request that no route took.
func methodNotAllowed(routes []route) echo.HandlerFunc {
	return func(c echo.Context) error {
		segments := strings.Split("/"+c.Param("*"), "/")
		var allowed []string
		for _, r := range routes {
			if matches(strings.Split(r.path, "/"), segments) && !slices.Contains(allowed, r.method) {
				allowed = append(allowed, r.method)
			}
		}
		if len(allowed) == 0 {
			return echo.ErrNotFound
		}
		// Echo's order: OPTIONS first.
		allow := strings.Join(append([]string{http.MethodOptions}, allowed...), ", ")
		c.Response().Header().Set(echo.HeaderAllow, allow)
		if c.Request().Method == http.MethodOptions {
			return c.NoContent(http.StatusNoContent)
		}
		return echo.ErrMethodNotAllowed
	}
}

// matches reports whether the segments of a request path fit those of a
// route path, where :name stands for one non-empty segment, as in Echo.
func matches(pattern, segments []string) bool {
	if len(pattern) != len(segments) {
		return false
	}
	for i, p := range pattern {
		if strings.HasPrefix(p, ":") {
			if segments[i] == "" {
				return false
			}
		} else if p != segments[i] {
			return false
		}
	}
	return true
}
