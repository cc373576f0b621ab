package serve

import (
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/labstack/echo/v4"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/internal/apierror"
)

// handlerSwitch is the HTTP server's handler: the starting one while the
// database is prepared, the routes once everything they use runs. Swapping
// it, rather than listening only once the routes exist, keeps /healthz
// answering through a long wait or migration: a liveness probe failing
// then would have the process killed mid-migration, leaving the schema
// dirty for every replica.
type handlerSwitch struct{ current atomic.Pointer[http.Handler] }

func newHandlerSwitch(first http.Handler) *handlerSwitch {
	s := &handlerSwitch{}
	s.current.Store(&first)
	return s
}

// serve makes h answer every request from now on; those under way finish
// with the handler they started with.
func (s *handlerSwitch) serve(h http.Handler) { s.current.Store(&h) }

func (s *handlerSwitch) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	(*s.current.Load()).ServeHTTP(w, req)
}

// startingRetryAfter is the Retry-After, in seconds, of a request answered
// 503 starting: a start-up usually takes seconds, a migration may take
// longer, and a client retrying sooner only costs a 503.
const startingRetryAfter = "5"

// newStartingHandler answers while easel serve prepares its database and
// starts: /healthz 200, since the process is alive and getting on; /readyz
// and every other path 503 starting, in the API's JSON error shape, /readyz
// as it answers shutting_down.
func newStartingHandler(logger *slog.Logger) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = api.ErrorHandler(logger)
	starting := func(c echo.Context) error {
		c.Response().Header().Set("Retry-After", startingRetryAfter)
		return apierror.New(http.StatusServiceUnavailable, "starting", "easel serve is starting")
	}
	e.Match(getHead, "/healthz", healthz)
	e.Match(getHead, "/readyz", starting)
	// Which paths the routes will serve is not known yet: every one is
	// refused alike, rather than some answered 404 that will exist.
	e.RouteNotFound("/*", starting)
	return e
}

// healthz answers the liveness probe: the process runs.
func healthz(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) }
