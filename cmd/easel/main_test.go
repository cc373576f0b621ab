package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// unreachableDB makes a command that wrongly gets past its argument checks
// fail with exit code 1 rather than touch a database.
const unreachableDB = "postgres://nouser@127.0.0.1:1/easel_cmd_test?sslmode=disable&connect_timeout=2"

// easel runs the command line args as main does and returns its exit code,
// stdout and stderr. ctx, when done already, stops a command that wrongly
// gets past its argument checks before it serves anything.
func easel(t *testing.T, ctx context.Context, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string { return env[k] }
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	code = exitCode(run(ctx, args, &out, getenv, logger), &errOut)
	return code, out.String(), errOut.String()
}

func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestUsageCommandsAligned(t *testing.T) {
	t.Parallel()

	_, commands, ok := strings.Cut(usage, "commands:\n")
	require.True(t, ok)
	commands, _, _ = strings.Cut(commands, "\n\n")
	lines := strings.Split(commands, "\n")
	require.Len(t, lines, 7)
	column := -1
	for _, line := range lines {
		name := strings.Fields(line)[0]
		desc := len(line) - len(strings.TrimLeft(line[2+len(name):], " "))
		if column < 0 {
			column = desc
		}
		require.Equal(t, column, desc, "description of %q starts in column %d, the others in %d", name, desc, column)
	}
}

func TestHelpExitsZero(t *testing.T) {
	t.Parallel()

	tests := []struct {
		args       []string
		wantStdout string // the help printed on stdout; flag-based commands print theirs on stderr
	}{
		{args: []string{"--help"}, wantStdout: "usage: easel <command>"},
		{args: []string{"help"}, wantStdout: "usage: easel <command>"},
		{args: []string{"serve", "--help"}},
		{args: []string{"serve", "-h"}},
		{args: []string{"sim", "--help"}},
		{args: []string{"enqueue", "--help"}},
		{args: []string{"bench", "--help"}},
		{args: []string{"healthcheck", "--help"}},
		{args: []string{"migrate", "--help"}, wantStdout: "usage: easel migrate up | down [N] | version"},
		{args: []string{"migrate", "-h"}, wantStdout: "usage: easel migrate"},
		{args: []string{"migrate", "down", "--help"}, wantStdout: "usage: easel migrate"},
		{args: []string{"keys", "--help"}, wantStdout: "usage: easel keys create NAME | list | revoke NAME"},
		{args: []string{"keys", "-h"}, wantStdout: "usage: easel keys"},
		{args: []string{"keys", "create", "--help"}, wantStdout: "usage: easel keys"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()

			code, stdout, stderr := easel(t, cancelled(), map[string]string{"DATABASE_URL": unreachableDB}, tt.args...)
			require.Zero(t, code, "stderr: %s", stderr)
			require.Contains(t, stdout, tt.wantStdout)
		})
	}
}

func TestUnexpectedArgumentsAreUsageErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		args []string
		want string
	}{
		{args: []string{"serve", "--role=api", "worker"}, want: `unexpected argument "worker" to easel serve`},
		{args: []string{"sim", "--addr", "127.0.0.1:0", "extra"}, want: `unexpected argument "extra" to easel sim`},
		{args: []string{"bench", "extra"}, want: `unexpected argument "extra" to easel bench`},
		{args: []string{"healthcheck", "--url", "http://127.0.0.1:1/", "extra"}, want: `unexpected argument "extra" to easel healthcheck`},
		{args: []string{"enqueue", "extra"}, want: `unexpected argument "extra"`},
		{args: []string{"migrate", "up", "extra"}, want: `unexpected argument "extra" to easel migrate up`},
		{args: []string{"migrate", "down", "2", "extra"}, want: `unexpected argument "extra" to easel migrate down`},
		{args: []string{"migrate", "version", "extra"}, want: `unexpected argument "extra" to easel migrate version`},
		{args: []string{"migrate", "down", "-1"}, want: `N must be a positive integer, got "-1"`},
		{args: []string{"migrate", "up", "--force"}, want: "easel migrate takes no flag --force"},
		{args: []string{"migrate", "sideways"}, want: `unknown migrate command "sideways"`},
		{args: []string{"keys", "list", "extra"}, want: `unexpected argument "extra" to easel keys list`},
		{args: []string{"keys", "create", "a", "b"}, want: `unexpected argument "b" to easel keys create`},
		{args: []string{"keys", "revoke", "a", "b"}, want: `unexpected argument "b" to easel keys revoke`},
		{args: []string{"keys", "revoke"}, want: "easel keys revoke NAME: missing NAME"},
		{args: []string{"keys", "list", "--all"}, want: "easel keys takes no flag --all"},
		{args: []string{"keys", "rotate"}, want: `unknown keys command "rotate"`},
		{args: []string{"frobnicate"}, want: `unknown command "frobnicate"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()

			code, _, stderr := easel(t, cancelled(), map[string]string{"DATABASE_URL": unreachableDB}, tt.args...)
			require.Equal(t, 2, code, "stderr: %s", stderr)
			require.Contains(t, stderr, "easel: ")
			require.Contains(t, stderr, tt.want)
		})
	}
}
