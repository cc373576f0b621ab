package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/dbwait"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/migrations"
)

// signalingHandler is a JSON handler that also closes logged the first time
// a record with message msg is handled.
type signalingHandler struct {
	slog.Handler
	msg    string
	logged chan struct{}
}

func (h *signalingHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Message == h.msg {
		select {
		case <-h.logged:
		default:
			close(h.logged)
		}
	}
	return err
}

// closedAddr is a loopback address nothing listens on, which refuses
// connections until the test listens on it.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// viaAddr is databaseURL with its host and port replaced by addr.
func viaAddr(t *testing.T, databaseURL, addr string) string {
	t.Helper()
	u, err := url.Parse(databaseURL)
	require.NoError(t, err)
	u.Host = addr
	return u.String()
}

// forward listens on addr, which refused connections until now, and passes
// every connection to target, until the test ends.
func forward(t *testing.T, addr, target string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err, "listen on the address that refused connections")
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer client.Close()
				server, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer server.Close()
				go func() {
					_, _ = io.Copy(server, client)
					server.Close()
				}()
				_, _ = io.Copy(client, server)
			}()
		}
	}()
}

// easel keys and easel migrate wait for a Postgres that refuses
// connections, as easel serve does at start, saying so once, and go on
// once it accepts them; the password in DATABASE_URL is never shown.
func TestKeysAndMigrateWaitForDatabase(t *testing.T) {
	t.Parallel()

	latest, err := migrations.Latest()
	require.NoError(t, err)
	tests := []struct {
		args       []string
		wantStdout string
	}{
		{args: []string{"keys", "create", "shop"}, wantStdout: "easel_"},
		{args: []string{"keys", "list"}, wantStdout: ""},
		{args: []string{"keys", "revoke", "shop"}, wantStdout: ""}, // refused: no such key, after the wait
		{args: []string{"migrate", "up"}, wantStdout: fmt.Sprintf("schema version %d of %d\n", latest, latest)},
		{args: []string{"migrate", "version"}, wantStdout: fmt.Sprintf("schema version %d of %d\n", latest, latest)},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()

			real := dbtest.URL(t)
			u, err := url.Parse(real)
			require.NoError(t, err)
			password, hasPassword := u.User.Password()
			require.True(t, hasPassword, "the test database's URL holds a password, which must not be shown")
			addr := closedAddr(t)
			env := map[string]string{"DATABASE_URL": viaAddr(t, real, addr)}

			logs := &logtest.Buffer{}
			handler := &signalingHandler{Handler: jsonHandler(logs, slog.LevelInfo), msg: "database unreachable; waiting for it", logged: make(chan struct{})}
			logger := func() (*slog.Logger, error) { return slog.New(handler), nil }
			var stdout, stderr bytes.Buffer
			done := make(chan int, 1)
			go func() {
				done <- exitCode(run(context.Background(), tt.args, &stdout, &stderr, func(k string) string { return env[k] }, logger), &stderr)
			}()
			select {
			case <-handler.logged:
			case code := <-done:
				require.Failf(t, "the command ended without waiting", "exit %d, stderr %q, logs %s", code, stderr.String(), logs.String())
			}
			forward(t, addr, u.Host)
			code := <-done

			if tt.args[1] == "revoke" {
				require.Equal(t, 1, code, stderr.String())
				require.Contains(t, stderr.String(), "shop", "keyscli's own error, once the database answered")
			} else {
				require.Zero(t, code, stderr.String())
				require.Contains(t, stdout.String(), tt.wantStdout)
			}
			var waits, reached int
			for _, r := range logs.Records(t) {
				switch r["msg"] {
				case "database unreachable; waiting for it":
					waits++
					require.Equal(t, "WARN", r["level"])
					require.Contains(t, r["error"], "connection refused")
					require.Equal(t, "30s", r["for_at_most"])
				case "database reachable":
					reached++
				}
			}
			require.Equal(t, 1, waits, "said once: %s", logs.String())
			require.Equal(t, 1, reached, logs.String())
			for _, out := range []string{logs.String(), stdout.String(), stderr.String()} {
				require.NotContains(t, out, password)
			}
		})
	}
}

// The wait gives up after its time with an error saying so and why, never
// showing the password; it does not wait for what waiting cannot mend, nor
// past the command's context.
func TestDatabaseWait(t *testing.T) {
	t.Parallel()

	const password = "s3cret-pw"
	refusing := "postgres://postgres:" + password + "@" + closedAddr(t) + "/easel?sslmode=disable"
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name      string
		ctx       context.Context
		url       func(t *testing.T) string
		wantErr   []string
		wantIs    []error
		wantWaits int
	}{
		{name: "refusing for longer than the wait", ctx: context.Background(), url: func(*testing.T) string { return refusing },
			wantErr: []string{"connect to the database: gave up waiting for it after 300ms: ", "connection refused"},
			wantIs:  []error{dbwait.ErrGaveUp, syscall.ECONNREFUSED}, wantWaits: 1},
		{name: "interrupted", ctx: cancelled, url: func(*testing.T) string { return refusing },
			wantErr: []string{"connect to the database: context canceled: "}, wantIs: []error{context.Canceled}},
		{name: "accepting", ctx: context.Background(), url: func(t *testing.T) string { return dbtest.URL(t) }},
		// easel migrate up creates it; the other commands say it is missing.
		{name: "the database does not exist", ctx: context.Background(), url: func(t *testing.T) string { return dbtest.MissingURL(t) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			logs := &logtest.Buffer{}
			w := dbwait.Wait{Max: 300 * time.Millisecond, FirstRetry: 10 * time.Millisecond}
			err := awaitDatabase(tt.ctx, w, tt.url(t), slog.New(jsonHandler(logs, slog.LevelInfo)))
			if tt.wantErr == nil {
				require.NoError(t, err)
			} else {
				for _, want := range tt.wantErr {
					require.ErrorContains(t, err, want)
				}
				for _, want := range tt.wantIs {
					require.ErrorIs(t, err, want)
				}
				require.NotContains(t, err.Error(), password)
				require.NotContains(t, err.Error(), "\n")
			}
			require.Equal(t, tt.wantWaits, strings.Count(logs.String(), "database unreachable; waiting for it"), logs.String())
			require.NotContains(t, logs.String(), password)
		})
	}
}

// A bad argument or variable is refused at once, database or not: only a
// command that is going to run waits.
func TestMistakesAreNotMadeToWait(t *testing.T) {
	t.Parallel()

	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{args: []string{"keys", "create", "shop"}, env: map[string]string{"EASEL_CALLBACK_SECRET": "whsec_c2hvcnQ="}, want: "EASEL_CALLBACK_SECRET: "},
		{args: []string{"keys", "create", "shop"}, env: map[string]string{"EASEL_PUBLIC_URL": "ftp://x"}, want: "EASEL_PUBLIC_URL: "},
		{args: []string{"migrate", "down", "x"}, want: `migrate down N: N must be a positive integer, got "x"`},
		{args: []string{"migrate", "force", "x"}, want: `migrate force V: V must be a version, 0 or more, got "x"`},
		{args: []string{"migrate", "force", "99999"}, want: "this binary's migrations go up to version"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " ")+" "+tt.want, func(t *testing.T) {
			t.Parallel()

			env := map[string]string{"DATABASE_URL": "postgres://postgres@" + closedAddr(t) + "/easel?sslmode=disable"}
			maps.Copy(env, tt.env)
			logs := &logtest.Buffer{}
			logger := func() (*slog.Logger, error) { return slog.New(jsonHandler(logs, slog.LevelInfo)), nil }
			var stdout, stderr bytes.Buffer
			code := exitCode(run(context.Background(), tt.args, &stdout, &stderr, func(k string) string { return env[k] }, logger), &stderr)
			require.Equal(t, 2, code, stderr.String())
			require.Contains(t, stderr.String(), tt.want)
			require.NotContains(t, logs.String(), "waiting for it")
		})
	}
}
