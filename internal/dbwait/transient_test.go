package dbwait

import (
	"context"
	"net"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// A server that closes the connection without a word, as Postgres may while
// it shuts down, is one to wait for: pgx reports "failed to receive
// message: unexpected EOF".
func TestClosedConnectionIsTransient(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	cfg, err := pgx.ParseConfig("postgres://postgres@" + ln.Addr().String() + "/easel?sslmode=disable")
	require.NoError(t, err)
	err = Connect(cfg)(context.Background())
	require.Error(t, err)
	require.True(t, Transient(err), "%v", err)
}
