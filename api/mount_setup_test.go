package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/logtest"
)

// mountBundle is Handler mounted in a service's own Echo, as docs/GO.md
// describes: behind the service's own authentication,
// under a path of the service's choosing, with api.ErrorHandler, served
// over a real listener so that requests arrive as a client sends them.
type mountBundle struct {
	ctx    context.Context
	pool   *pgxpool.Pool
	echo   *echo.Echo
	server *httptest.Server
	logs   *logtest.Buffer
}

type mountOpts struct {
	// teams are the service's own credentials: each bearer token, and the
	// client name its authentication gives the caller.
	teams map[string]string
	// dropNameErrors makes that authentication ignore SetClientName's
	// error, as a careless one would.
	dropNameErrors bool
	// group is where Handler is mounted; e.Group("/v1") by default.
	group func(e *echo.Echo) *echo.Group
	// stripPrefix, when set, serves the Echo behind
	// http.StripPrefix(stripPrefix) in a net/http mux.
	stripPrefix string
	// maxPending is the handler's cap per client; 0 means none.
	maxPending int
}

func mount(t *testing.T, opts mountOpts) *mountBundle {
	t.Helper()
	pool := dbtest.Pool(t)
	logs := &logtest.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	e := echo.New()
	e.HTTPErrorHandler = api.ErrorHandler(logger)
	h := api.NewHandler(pool, logger)
	if opts.maxPending > 0 {
		h.WithMaxPending(opts.maxPending)
	}
	if opts.group == nil {
		opts.group = func(e *echo.Echo) *echo.Group { return e.Group("/v1") }
	}
	h.Register(opts.group(e), teamAuth(opts.teams, opts.dropNameErrors))

	var served http.Handler = e
	if opts.stripPrefix != "" {
		mux := http.NewServeMux()
		mux.Handle(opts.stripPrefix+"/", http.StripPrefix(opts.stripPrefix, e))
		served = mux
	}
	server := httptest.NewServer(served)
	t.Cleanup(server.Close)
	return &mountBundle{ctx: context.Background(), pool: pool, echo: e, server: server, logs: logs}
}

// teamAuth is a service's own authentication: it admits a bearer token of
// teams and names the caller by the team's name.
func teamAuth(teams map[string]string, dropNameErrors bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			token := strings.TrimPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
			team, ok := teams[token]
			if !ok {
				return echo.NewHTTPError(http.StatusUnauthorized, "unknown team token")
			}
			if err := api.SetClientName(c, team); err != nil && !dropNameErrors {
				return err
			}
			return next(c)
		}
	}
}

// do sends one request to the service with token, if any.
func (b *mountBundle) do(t *testing.T, method, path, token string, header http.Header, body string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(b.ctx, method, b.server.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set(echo.HeaderAuthorization, "Bearer "+token)
	}
	if body != "" {
		req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	}
	resp, err := b.server.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: respBody}
}

// enqueue posts body to path as token's team and requires wantStatus.
func (b *mountBundle) enqueue(t *testing.T, path, token string, header http.Header, wantStatus int) (generation, response) {
	t.Helper()
	resp := b.do(t, http.MethodPost, path, token, header, falExampleInput)
	require.Equal(t, wantStatus, resp.status, string(resp.body))
	var g generation
	require.NoError(t, json.Unmarshal(resp.body, &g))
	return g, resp
}

// storedClient is the client column of generation id.
func (b *mountBundle) storedClient(t *testing.T, id string) string {
	t.Helper()
	var client string
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT client FROM generations WHERE id = $1`, id).Scan(&client))
	return client
}

// generationCount is how many generations exist.
func (b *mountBundle) generationCount(t *testing.T) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM generations`).Scan(&n))
	return n
}
