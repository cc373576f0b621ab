package dbtest

import (
	"context"
	"net"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// UnreachablePool returns a pool on a new, migrated database, and a
// function that makes the database unreachable through it, as when
// Postgres is stopped: its connections are closed and new ones refused.
// refusing is an address that refuses connections, for other clients a
// test wants to fail the same way.
func UnreachablePool(t testing.TB) (pool *pgxpool.Pool, goDown func(), refusing string) {
	t.Helper()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refusing = closed.Addr().String()
	require.NoError(t, closed.Close())

	cfg, err := pgxpool.ParseConfig(URL(t))
	require.NoError(t, err)
	var down atomic.Bool
	var dialer net.Dialer
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if down.Load() {
			addr = refusing
		}
		return dialer.DialContext(ctx, network, addr)
	}
	pool, err = pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool, func() {
		down.Store(true)
		pool.Reset()
	}, refusing
}
