package main

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
)

// An address easel serve cannot listen on is blamed on where it came from:
// --addr when given, and then EASEL_ADDR, which it overrides, is not read.
func TestServeListenErrorNamesTheFlag(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = taken.Close() })

	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{name: "--addr", env: map[string]string{"EASEL_ADDR": "bogus"}, args: []string{"--addr", taken.Addr().String()}, want: "listen on --addr " + taken.Addr().String() + ": "},
		{name: "EASEL_ADDR", env: map[string]string{"EASEL_ADDR": taken.Addr().String()}, want: "listen on EASEL_ADDR " + taken.Addr().String() + ": "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.env["DATABASE_URL"] = dbtest.URL(t)
			code, stdout, stderr := easel(t, context.Background(), tt.env, append([]string{"serve"}, tt.args...)...)
			require.Equal(t, 1, code, "not a usage error: the address is taken")
			require.Empty(t, stdout)
			require.Contains(t, failure(t, "serve", stderr), tt.want)
		})
	}
}

// A port net.Listen would refuse is a bad flag, refused before anything
// runs.
func TestServeRefusesAddrPortUpFront(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := easel(t, cancelled(), map[string]string{"DATABASE_URL": unreachableDB}, "serve", "--addr", "127.0.0.1:99999")
	require.Equal(t, 2, code, stderr)
	require.Empty(t, stdout)
	require.Equal(t, `invalid value "127.0.0.1:99999" for flag -addr: port "99999" is not a number from 0 to 65535 nor a known service; run 'easel serve --help' for usage`,
		failure(t, "serve", stderr))
}
