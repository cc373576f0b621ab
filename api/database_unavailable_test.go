package api_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/jobs"
)

// setupDatabaseDown serves /v1, behind Auth when auth is set, on a pool
// whose database then becomes unreachable: its connections are closed and
// new ones are refused, as when Postgres is stopped. It returns the API key
// created first when key is set.
func setupDatabaseDown(t *testing.T, auth, key bool) (*testBundle, string) {
	t.Helper()
	ctx := context.Background()
	pool, goDown, refusing := dbtest.UnreachablePool(t)

	var apiKey string
	if key {
		var err error
		apiKey, _, err = api.CreateKey(ctx, pool, "billing")
		require.NoError(t, err)
	}
	logger := slog.New(slog.DiscardHandler)
	var middleware []echo.MiddlewareFunc
	if auth {
		a, err := api.NewAuth(ctx, pool, api.AuthConfig{ListenAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, Simulated: true, Logger: logger})
		require.NoError(t, err)
		middleware = append(middleware, a.RequireKey)
	}
	falClient := fal.NewClient(fal.ClientConfig{QueueURL: "http://" + refusing, Key: "test-key"})
	riverClient, err := jobs.NewRiverClient(pool, jobs.Config{Fal: falClient, Logger: logger, PublicURL: "http://easel.example"})
	require.NoError(t, err)

	e := echo.New()
	e.HTTPErrorHandler = apierror.Handler(logger)
	e.GET("/openapi.yaml", api.ServeOpenAPI)
	api.NewHandler(pool, logger).WithCanceller(jobs.NewCanceller(pool, riverClient, falClient, logger)).
		Register(e.Group("/v1"), middleware...)
	b := &testBundle{ctx: ctx, pool: pool, echo: e}
	b.loadOpenAPI(t)

	goDown()
	return b, apiKey
}

func TestDatabaseUnavailable(t *testing.T) {
	t.Parallel()

	id := uuid.NewString()
	for _, tt := range []struct {
		name         string
		auth, key    bool
		method, path string
		body         string
	}{
		{name: "enqueue", method: http.MethodPost, path: "/v1/generations", body: falExampleInput},
		{name: "get", method: http.MethodGet, path: "/v1/generations/" + id},
		{name: "wait", method: http.MethodGet, path: "/v1/generations/" + id + "?wait=1s"},
		{name: "list", method: http.MethodGet, path: "/v1/generations"},
		{name: "cancel", method: http.MethodPost, path: "/v1/generations/" + id + "/cancel"},
		{name: "auth without a key", auth: true, method: http.MethodGet, path: "/v1/generations/" + id},
		{name: "auth with a key", auth: true, key: true, method: http.MethodGet, path: "/v1/generations/" + id},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, key := setupDatabaseDown(t, tt.auth, tt.key)
			header := jsonHeader()
			if key != "" {
				header.Set(echo.HeaderAuthorization, bearer(key))
			}

			resp := b.do(t, tt.method, tt.path, header, []byte(tt.body))
			require.Equal(t, http.StatusServiceUnavailable, resp.status, string(resp.body))
			require.Equal(t, "database_unavailable", resp.errorBody(t).Code)
			require.Equal(t, "5", resp.header.Get("Retry-After"))
		})
	}
}
