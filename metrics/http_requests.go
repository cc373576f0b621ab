package metrics

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/easelhq/easel/internal/apierror"
)

// unmatchedRoute is easel_http_requests_total's route for a request no
// route took (a 404 from Echo's router): its path is the client's to
// choose, so it is not a label value.
const unmatchedRoute = "unmatched"

// otherMethod is easel_http_requests_total's method for a request whose
// method is none of HTTP's standard ones: methods, too, are the client's
// to choose.
const otherMethod = "other"

// httpMethods are the values easel_http_requests_total's method label
// takes as they are.
var httpMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true, http.MethodPatch: true,
	http.MethodDelete: true, http.MethodOptions: true, http.MethodConnect: true, http.MethodTrace: true,
}

// apiErrorCodes are the codes of easel_api_errors_total whose series read 0
// from the start, so that rate() and increase() count their first
// occurrence: the refusals an on-call alerts on (a client flooding, keys
// failing, requests Easel cannot read) and Easel's own failures. Other
// codes get their series when first written.
var apiErrorCodes = []string{"too_many_pending", "unauthorized", "invalid_request", "database_unavailable", "internal"}

func newHTTPCounters() (requests, apiErrors *prometheus.CounterVec) {
	requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "easel_http_requests_total",
		Help: "HTTP requests answered by this process, by route (Echo's route template, such as /v1/generations/:id; " +
			`"unmatched" for a request no route took), method ("other" for a non-standard one) and status (the numeric code).`,
	}, []string{"route", "method", "status"})
	apiErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "easel_api_errors_total",
		Help: `HTTP error answers of this process, by the code of their {"error": {"code"}} body (too_many_pending, unauthorized, invalid_request, ...).`,
	}, []string{"code"})
	for _, code := range apiErrorCodes {
		apiErrors.WithLabelValues(code)
	}
	return requests, apiErrors
}

// HTTPMiddleware returns Echo middleware that counts each request in
// easel_http_requests_total, and each error body apierror.Handler writes in
// easel_api_errors_total by its code. Add it with e.Use, first, so that it
// sees every request and every error the middleware after it returns: it
// hands a request's error to the Echo's HTTPErrorHandler itself, to learn
// the status the client gets, and returns nil, so the error is answered
// once and Pre middleware sees none.
//
// Requests net/http answers before Echo sees them (a malformed request
// line, headers over the server's limit) are not counted.
func (m *Metrics) HTTPMiddleware() echo.MiddlewareFunc {
	if m == nil {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := next(c); err != nil {
				c.Error(err)
			}
			if code, ok := apierror.WrittenCode(c); ok {
				m.apiErrors.WithLabelValues(code).Inc()
			}
			m.httpRequests.WithLabelValues(routeLabel(c), methodLabel(c.Request().Method),
				strconv.Itoa(c.Response().Status)).Inc()
			return nil
		}
	}
}

// routeLabel is the route label of c's request: the template of the route
// that took it, which the Echo's own routes bound. For a known path asked
// with another method (405, or OPTIONS) it is that path's template too;
// for a request no route took, Echo's router leaves it empty.
func routeLabel(c echo.Context) string {
	if route := c.Path(); route != "" {
		return route
	}
	return unmatchedRoute
}

func methodLabel(method string) string {
	if httpMethods[method] {
		return method
	}
	return otherMethod
}
