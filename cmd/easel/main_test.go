package main

import (
	"bytes"
	"context"
	"encoding/json"
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
// stdout and stderr (what the command writes there, then its error). ctx, when done already, stops a command that wrongly
// gets past its argument checks before it serves anything.
func easel(t *testing.T, ctx context.Context, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string { return env[k] }
	logger := func() (*slog.Logger, error) { return newLogger(getenv, io.Discard) }
	code = exitCode(run(ctx, args, &out, &errOut, getenv, logger), &errOut)
	return code, out.String(), errOut.String()
}

// failure returns the error that cmd, having failed, wrote to stderr: as
// its one JSON log line at ERROR for easel serve, whose standard error is
// a log, else as the line "easel: <error>".
func failure(t *testing.T, cmd, stderr string) string {
	t.Helper()
	if cmd != "serve" {
		text, ok := strings.CutPrefix(stderr, "easel: ")
		require.True(t, ok, "a line for a person: %q", stderr)
		return strings.TrimSuffix(text, "\n")
	}
	require.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
	var line struct {
		Level string `json:"level"`
		Msg   string `json:"msg"`
		Error string `json:"error"`
	}
	require.NoError(t, json.Unmarshal([]byte(stderr), &line), "a JSON log line: %q", stderr)
	require.Equal(t, "ERROR", line.Level)
	require.Equal(t, "easel serve failed", line.Msg)
	return line.Error
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
	require.Len(t, lines, 8)
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

// badEnv is an environment every command refuses, but not its help.
var badEnv = map[string]string{
	"DATABASE_URL":    unreachableDB,
	"EASEL_WORKERS":   "abc",
	"EASEL_LOG_LEVEL": "verbose",
	"EASEL_ADDR":      "nowhere",
}

// Help goes to stdout and exits 0, whatever the environment holds.
func TestHelpExitsZero(t *testing.T) {
	t.Parallel()

	tests := []struct {
		args       []string
		wantStdout string
	}{
		{args: []string{"--help"}, wantStdout: "usage: easel <command>"},
		{args: []string{"help"}, wantStdout: "usage: easel <command>"},
		{args: []string{"help", "help"}, wantStdout: "usage: easel <command>"},
		{args: []string{"help", "enqueue"}, wantStdout: "usage: easel enqueue [flags]"},
		{args: []string{"help", "keys"}, wantStdout: "usage: easel keys create NAME"},
		{args: []string{"help", "migrate"}, wantStdout: "usage: easel migrate up"},
		{args: []string{"help", "version"}, wantStdout: "usage: easel version"},
		{args: nil, wantStdout: "usage: easel <command>"},
		{args: []string{"serve", "--help"}, wantStdout: "usage: easel serve [flags]"},
		{args: []string{"serve", "-h"}, wantStdout: "usage: easel serve [flags]"},
		{args: []string{"serve", "--role", "api", "--help"}, wantStdout: "usage: easel serve [flags]"},
		{args: []string{"sim", "--help"}, wantStdout: "usage: easel sim [flags]"},
		{args: []string{"enqueue", "--help"}, wantStdout: "usage: easel enqueue [flags]"},
		{args: []string{"bench", "--help"}, wantStdout: "usage: easel bench [flags]"},
		{args: []string{"healthcheck", "--help"}, wantStdout: "usage: easel healthcheck [flags]"},
		{args: []string{"version", "--help"}, wantStdout: "usage: easel version"},
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

			code, stdout, stderr := easel(t, cancelled(), badEnv, tt.args...)
			require.Zero(t, code, "stderr: %s", stderr)
			require.True(t, strings.HasPrefix(stdout, tt.wantStdout), stdout)
			require.Empty(t, stderr)
		})
	}
}

// Every command's help has the same shape: usage line, a paragraph, then
// its commands or flags and its environment, each default said once.
func TestHelpShape(t *testing.T) {
	t.Parallel()

	tests := []struct {
		cmd      string
		flags    bool // else commands, or neither
		commands bool
		wantEnv  []string
	}{
		{cmd: "serve", flags: true, wantEnv: []string{"DATABASE_URL", "EASEL_ADDR", "EASEL_ROLE", "EASEL_PUBLIC_URL", "FAL_KEY", "FAL_QUEUE_URL", "FAL_MEDIA_EXPIRATION", "FAL_STORE_IO", "EASEL_LOG_LEVEL"}},
		{cmd: "sim", flags: true, wantEnv: []string{"EASEL_LOG_LEVEL"}},
		{cmd: "enqueue", flags: true, wantEnv: []string{"EASEL_API_KEY", "EASEL_PUBLIC_URL", "EASEL_ADDR"}},
		{cmd: "bench", flags: true, wantEnv: []string{"DATABASE_URL", "EASEL_WORKERS"}},
		{cmd: "healthcheck", flags: true, wantEnv: []string{"EASEL_ADDR"}},
		{cmd: "migrate", commands: true, wantEnv: []string{"DATABASE_URL", "EASEL_LOG_LEVEL"}},
		{cmd: "keys", commands: true, wantEnv: []string{"DATABASE_URL", "EASEL_PUBLIC_URL", "EASEL_ADDR", "EASEL_CALLBACK_SECRET", "EASEL_LOG_LEVEL"}},
		{cmd: "version"},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			t.Parallel()

			code, stdout, _ := easel(t, cancelled(), nil, tt.cmd, "--help")
			require.Zero(t, code)
			usageLine, rest, ok := strings.Cut(stdout, "\n\n")
			require.True(t, ok, stdout)
			require.True(t, strings.HasPrefix(usageLine, "usage: easel "+tt.cmd), usageLine)
			about, _, _ := strings.Cut(rest, "\n\n")
			require.NotEmpty(t, about, "a paragraph says what the command does")
			require.NotContains(t, about, "  ", "one paragraph, not a table")
			_, flags, hasFlags := strings.Cut(stdout, "\n\nflags:\n")
			require.Equal(t, tt.flags, hasFlags, stdout)
			if hasFlags {
				flags, _, _ = strings.Cut(flags, "\n\n")
				require.Regexp(t, `^  --[a-z]`, flags)
				require.NotRegexp(t, `(?m)^  -[a-z]`, flags, "flags are spelled --name, as README spells them")
			}
			require.Equal(t, tt.commands, strings.Contains(stdout, "\n\ncommands:\n"), stdout)
			_, env, hasEnv := strings.Cut(stdout, "\n\nenvironment:\n")
			require.Equal(t, len(tt.wantEnv) > 0, hasEnv, stdout)
			for _, v := range tt.wantEnv {
				require.Regexp(t, `(?m)^  `+v+`\b`, env)
			}
			for line := range strings.Lines(stdout) {
				require.LessOrEqual(t, strings.Count(line, "default"), 1, "a default said twice: %q", line)
			}
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
		{args: []string{"migrate", "up", "--force"}, want: "migrate takes no flag --force"},
		{args: []string{"migrate", "sideways"}, want: `unknown migrate command "sideways"`},
		{args: []string{"migrate"}, want: "missing the migrate command"},
		{args: []string{"migrate", "force", "99999"}, want: "migrate force 99999: this binary's migrations go up to version "},
		{args: []string{"keys", "list", "extra"}, want: `unexpected argument "extra" to easel keys list`},
		{args: []string{"keys", "create", "a", "b"}, want: `unexpected argument "b" to easel keys create`},
		{args: []string{"keys", "revoke", "a", "b"}, want: `unexpected argument "b" to easel keys revoke`},
		{args: []string{"keys", "revoke"}, want: "keys revoke NAME: missing NAME"},
		{args: []string{"keys", "revoke", ""}, want: "keys revoke NAME: NAME is empty"},
		{args: []string{"keys", "create", ""}, want: "keys create NAME: NAME is empty"},
		{args: []string{"keys", "create", "bad name"}, want: `keys create NAME: API key name "bad name" may hold only letters, digits, '.', '_' and '-'`},
		{args: []string{"keys", "list", "--all"}, want: "keys takes no flag --all"},
		{args: []string{"keys", "rotate"}, want: `unknown keys command "rotate"`},
		{args: []string{"keys"}, want: "missing the keys command"},
		{args: []string{"frobnicate"}, want: `unknown command "frobnicate"`},
		{args: []string{"help", "frobnicate"}, want: `unknown command "frobnicate"`},
		{args: []string{"help", "enqueue", "extra"}, want: `unexpected argument "extra" to easel help`},
		{args: []string{"enqueue", "--idempotency-key", "", "--prompt", "x"}, want: "--idempotency-key is empty: give a key, or leave the flag out"},
		{args: []string{"enqueue", "--timeout", "1m", "--prompt", "x"}, want: "--timeout bounds the wait: give --wait too"},
		{args: []string{"enqueue", "--output", "xml", "--prompt", "x"}, want: `invalid value "xml" for flag -output: must be text or json`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()

			code, stdout, stderr := easel(t, cancelled(), map[string]string{"DATABASE_URL": unreachableDB}, tt.args...)
			require.Equal(t, 2, code, "stderr: %s", stderr)
			require.Empty(t, stdout)
			text := failure(t, tt.args[0], stderr)
			require.Contains(t, text, tt.want)
			require.NotRegexp(t, `^(easel |usage|invalid input)`, text, "said once: easel: prefixes every error")
		})
	}
}
