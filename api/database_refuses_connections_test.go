package api_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/internal/dbtest"
)

// Postgres refusing connections (a role's CONNECTION LIMIT reached, as
// max_connections would be) is a 503 database_unavailable that says so,
// rather than calling a server that answered unreachable.
func TestDatabaseRefusesConnections(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	url := dbtest.URL(t)
	adminURL := os.Getenv("TEST_DATABASE_URL")
	if adminURL == "" {
		adminURL = dbtest.DefaultURL
	}
	admin, err := pgx.Connect(ctx, adminURL)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close(ctx) })
	role := "easel_limited_" + uuid.NewString()[:8]
	_, err = admin.Exec(ctx, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN CONNECTION LIMIT 0")
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := admin.Exec(ctx, "DROP ROLE "+pgx.Identifier{role}.Sanitize())
		require.NoError(t, err)
	})

	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	cfg.ConnConfig.User, cfg.ConnConfig.Password = role, ""
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	logger := slog.New(slog.DiscardHandler)
	e := echo.New()
	e.HTTPErrorHandler = apierror.Handler(logger)
	api.NewHandler(pool, logger).Register(e.Group("/v1"))

	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/generations/"+uuid.NewString(), nil))

	require.Equal(t, http.StatusServiceUnavailable, rec.Code, rec.Body.String())
	require.Equal(t, "5", rec.Header().Get("Retry-After"))
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	require.Equal(t, "database_unavailable", body.Error.Code)
	require.Equal(t, "Postgres refused a connection: too many clients (SQLSTATE 53300); retry later", body.Error.Message)
	require.NotContains(t, rec.Body.String(), role, "the role stays in the log")
}
