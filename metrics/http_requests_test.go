package metrics_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/internal/metricstest"
	"github.com/easelhq/easel/metrics"
)

// newEcho is an Echo set up as easel serve's: Easel's error handler, the
// HTTP middleware first, routes of each kind (with a parameter, a wrapped
// http.Handler under a wildcard, /metrics itself).
func newEcho(m *metrics.Metrics) *echo.Echo {
	e := echo.New()
	e.HTTPErrorHandler = apierror.Handler(slog.New(slog.DiscardHandler))
	e.Use(m.HTTPMiddleware())
	getHead := []string{http.MethodGet, http.MethodHead}
	e.Match(getHead, "/v1/generations/:id", func(c echo.Context) error {
		if c.Param("id") != "known" {
			return apierror.New(http.StatusNotFound, "not_found", "no generation "+c.Param("id"))
		}
		return c.JSON(http.StatusOK, map[string]string{"id": "known"})
	})
	e.POST("/v1/generations", func(c echo.Context) error {
		return apierror.New(http.StatusTooManyRequests, "too_many_pending", "client alice has 3 unfinished generations")
	})
	e.Match(getHead, "/_sim/files/*", echo.WrapHandler(http.NotFoundHandler()))
	if m != nil {
		e.Match(getHead, "/metrics", echo.WrapHandler(m.Handler()))
	}
	return e
}

func serve(t *testing.T, e *echo.Echo, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

// Every request counts once under the template of the route that took it,
// or under "unmatched", whatever path the client made up; error answers
// count by the code their body carries, as the client read it.
func TestHTTPMiddlewareCountsRequestsAndErrorCodes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	e := newEcho(b.metrics)

	for _, req := range []struct {
		method, path string
		wantStatus   int
		wantCode     string // the error body's; "" for none
	}{
		{http.MethodGet, "/v1/generations/known", http.StatusOK, ""},
		{http.MethodHead, "/v1/generations/known", http.StatusOK, ""},
		{http.MethodGet, "/v1/generations/0192-made-up", http.StatusNotFound, "not_found"},
		{http.MethodPost, "/v1/generations", http.StatusTooManyRequests, "too_many_pending"},
		{http.MethodPost, "/v1/generations", http.StatusTooManyRequests, "too_many_pending"},
		{http.MethodGet, "/wp-admin/setup.php", http.StatusNotFound, "not_found"},
		{http.MethodGet, "/v1/made-up", http.StatusNotFound, "not_found"}, // a route's prefix
		{http.MethodDelete, "/v1/generations/known", http.StatusMethodNotAllowed, "method_not_allowed"},
		{"PURGE", "/v1/generations/known", http.StatusMethodNotAllowed, "method_not_allowed"},
		{http.MethodGet, "/_sim/files/made-up.png", http.StatusNotFound, ""},
		{http.MethodGet, "/metrics", http.StatusOK, ""},
	} {
		rec := serve(t, e, req.method, req.path)
		require.Equal(t, req.wantStatus, rec.Code, "%s %s", req.method, req.path)
		if req.wantCode != "" {
			// Written once: the middleware's handing of the error to the
			// handler is the only one.
			require.JSONEq(t, `{"code":"`+req.wantCode+`"}`, jsonCode(t, rec.Body.String()), "%s %s", req.method, req.path)
		}
	}

	s := metricstest.Scrape(t, b.metrics.Handler())
	require.Equal(t, map[string]float64{
		`easel_http_requests_total{method="GET",route="/v1/generations/:id",status="200"}`:    1,
		`easel_http_requests_total{method="HEAD",route="/v1/generations/:id",status="200"}`:   1,
		`easel_http_requests_total{method="GET",route="/v1/generations/:id",status="404"}`:    1,
		`easel_http_requests_total{method="POST",route="/v1/generations",status="429"}`:       2,
		`easel_http_requests_total{method="GET",route="unmatched",status="404"}`:              2,
		`easel_http_requests_total{method="DELETE",route="/v1/generations/:id",status="405"}`: 1,
		`easel_http_requests_total{method="other",route="/v1/generations/:id",status="405"}`:  1,
		`easel_http_requests_total{method="GET",route="/_sim/files/*",status="404"}`:          1,
		`easel_http_requests_total{method="GET",route="/metrics",status="200"}`:               1,
	}, seriesValues(s, "easel_http_requests_total{"))
	require.Equal(t, map[string]float64{
		`easel_api_errors_total{code="too_many_pending"}`:     2,
		`easel_api_errors_total{code="not_found"}`:            3,
		`easel_api_errors_total{code="method_not_allowed"}`:   2,
		`easel_api_errors_total{code="unauthorized"}`:         0,
		`easel_api_errors_total{code="invalid_request"}`:      0,
		`easel_api_errors_total{code="database_unavailable"}`: 0,
		`easel_api_errors_total{code="internal"}`:             0,
	}, seriesValues(s, "easel_api_errors_total{"))
}

// The refusals an on-call alerts on read 0 before the first one, so that
// rate() and increase() count it.
func TestAPIErrorCodesReadZeroFromTheStart(t *testing.T) {
	t.Parallel()
	s := metricstest.Scrape(t, setup(t).metrics.Handler())
	for _, code := range []string{"too_many_pending", "unauthorized", "invalid_request", "database_unavailable", "internal"} {
		series := `easel_api_errors_total{code="` + code + `"}`
		require.Contains(t, s, series)
		require.Zero(t, s[series], series)
	}
	require.Empty(t, seriesOf(s, "easel_http_requests_total{"), "requests get their series as they come")
}

// Without Metrics the middleware leaves errors to Echo, which answers them
// once.
func TestNilMetricsHTTPMiddleware(t *testing.T) {
	t.Parallel()
	e := newEcho(nil)
	rec := serve(t, e, http.MethodPost, "/v1/generations")
	require.Equal(t, http.StatusTooManyRequests, rec.Code)
	require.JSONEq(t, `{"code":"too_many_pending"}`, jsonCode(t, rec.Body.String()))
}

var errorCode = regexp.MustCompile(`"code":"[a-z_0-9]+"`)

// jsonCode returns the one "code" of an error body as an object, failing
// unless there is exactly one.
func jsonCode(t *testing.T, body string) string {
	t.Helper()
	codes := errorCode.FindAllString(body, -1)
	require.Len(t, codes, 1, body)
	return "{" + codes[0] + "}"
}

// seriesValues returns the samples of s whose series start with prefix.
func seriesValues(s map[string]float64, prefix string) map[string]float64 {
	values := map[string]float64{}
	for _, series := range seriesOf(s, prefix) {
		values[series] = s[series]
	}
	return values
}
