package serve_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
)

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	b := setup(t)

	status, body := b.do(t, http.MethodGet, "/healthz", nil, nil)
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"status": "ok"}`, string(body))
	status, body = b.do(t, http.MethodGet, "/readyz", nil, nil)
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"status": "ready"}`, string(body))

	// Take the database away: refuse new connections and end the open ones.
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dbtest.DefaultURL)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close(ctx) })
	var database string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT current_database()`).Scan(&database))
	setConnections := func(allow bool) {
		_, err := admin.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{database}.Sanitize()+` WITH ALLOW_CONNECTIONS `+map[bool]string{true: "true", false: "false"}[allow])
		require.NoError(t, err)
	}
	setConnections(false)
	t.Cleanup(func() { setConnections(true) })
	_, err = admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, database)
	require.NoError(t, err)
	require.Eventually(t, func() bool { // termination is a signal; the backends exit soon after
		var n int
		require.NoError(t, admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1`, database).Scan(&n))
		return n == 0
	}, 10*time.Second, 10*time.Millisecond)

	status, body = b.do(t, http.MethodGet, "/readyz", nil, nil)
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.JSONEq(t, `{"error": {"code": "database_unavailable", "message": "database unreachable"}}`, string(body))
	status, _ = b.do(t, http.MethodGet, "/healthz", nil, nil)
	require.Equal(t, http.StatusOK, status, "alive without its database")

	// Ready again once the database is back; the pool may first hand out
	// connections that died, one failed ping each.
	setConnections(true)
	require.Eventually(t, func() bool {
		status, _ := b.do(t, http.MethodGet, "/readyz", nil, nil)
		return status == http.StatusOK
	}, 10*time.Second, 10*time.Millisecond)
}
