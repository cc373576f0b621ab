package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// Register mounts the /v1 routes on g, each behind mw (easel serve's:
// Auth.RequireKey), and every GET for HEAD too (RFC 9110 §9.3.2): Echo
// writes GET's status and headers, and net/http drops the body.
//
// g may be at any prefix, e.Group("/v1") as easel serve mounts it or
// e.Group("/easel/v1") in a service of one's own: the Location of a
// created generation is built from the path it was posted to. mw names
// the client of what each caller enqueues: Auth.RequireKey by the caller's
// key, or a service's own authentication by calling SetClientName; a
// request neither named is AnonymousClient's.
//
// The middleware goes on each route, not on g, which must have none: a
// group with middleware adds a catch-all route so that its middleware runs
// even for a 404, and that catch-all also takes a known path asked with
// another method, which Echo otherwise answers 405 with Allow (OPTIONS: 204
// with Allow). So a request no route takes is answered without mw: an
// unknown path is 404 and a wrong method 405 even without a key; what they
// tell is in openapi.yaml, which is public.
func (h *Handler) Register(g *echo.Group, mw ...echo.MiddlewareFunc) {
	getHead := []string{http.MethodGet, http.MethodHead}
	g.POST("/generations", h.create, mw...)
	g.Match(getHead, "/generations", h.list, mw...)
	g.Match(getHead, "/generations/:id", h.get, mw...)
	g.POST("/generations/:id/cancel", h.cancel, mw...)
}
