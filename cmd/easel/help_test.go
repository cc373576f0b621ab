package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/buildinfo"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/migrations"
)

// A bad flag is one line on stderr naming the flag and where the help is,
// exit code 2, and nothing run.
func TestBadFlagIsOneLine(t *testing.T) {
	t.Parallel()

	tests := []struct {
		args []string
		want string
	}{
		{args: []string{"sim", "--fail-rate", "2"}, want: `invalid value "2" for flag -fail-rate: `},
		{args: []string{"sim", "--bogus"}, want: "flag provided but not defined: -bogus"},
		{args: []string{"sim", "--addr", ""}, want: `invalid value "" for flag -addr: not host:port`},
		{args: []string{"serve", "--bogus"}, want: "flag provided but not defined: -bogus"},
		{args: []string{"serve", "--role", "both"}, want: `invalid value "both" for flag -role: "both" is not one of all, api, worker`},
		{args: []string{"serve", "--addr", ""}, want: `invalid value "" for flag -addr: not host:port`},
		{args: []string{"enqueue", "--colour", "red"}, want: "flag provided but not defined: -colour"},
		{args: []string{"enqueue", "--num-images", "many"}, want: `invalid value "many" for flag -num-images: `},
		{args: []string{"bench", "--n", "0"}, want: "invalid value 0 for flag -n: must be more than 0"},
		{args: []string{"bench", "--history-rows", "-1"}, want: "invalid value -1 for flag -history-rows: must be more than 0"},
		{args: []string{"bench", "--concurrency"}, want: "flag needs an argument: -concurrency"},
		{args: []string{"bench", "--rate", "-1"}, want: "invalid value -1 for flag -rate: must be a number of generations per second of 0 or more"},
		{args: []string{"bench", "--rate", "NaN"}, want: "invalid value NaN for flag -rate: must be a number of generations per second of 0 or more"},
		{args: []string{"healthcheck", "--timeout", "0s"}, want: `invalid value "0s" for flag -timeout: must be more than 0`},
		{args: []string{"healthcheck", "--timeout", "-1s"}, want: `invalid value "-1s" for flag -timeout: must be more than 0`},
		{args: []string{"healthcheck", "--url", "127.0.0.1:8080/readyz"}, want: `invalid value "127.0.0.1:8080/readyz" for flag -url: not an http(s) URL`},
		{args: []string{"version", "--short"}, want: "flag provided but not defined: -short"},
		{args: []string{"version", "now"}, want: `unexpected argument "now" to easel version`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()

			code, stdout, stderr := easel(t, cancelled(), map[string]string{"DATABASE_URL": unreachableDB}, tt.args...)
			require.Equal(t, 2, code, "stderr: %s", stderr)
			require.Empty(t, stdout)
			require.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
			text := failure(t, tt.args[0], stderr)
			require.Contains(t, text, tt.want)
			require.True(t, strings.HasSuffix(text, fmt.Sprintf("; run 'easel %s --help' for usage", tt.args[0])), text)
		})
	}
}

// The environment is read only once the arguments asked for no help; then
// a bad variable is refused, by name, before anything is run, with exit
// code 2 whichever the command, as README's Configuration says.
func TestBadEnvironmentRefusedAfterHelp(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{name: "serve, EASEL_WORKERS", env: map[string]string{"EASEL_WORKERS": "abc"}, args: []string{"serve"}, want: `EASEL_WORKERS: "abc" is not a positive integer`},
		{name: "serve --role, EASEL_WORKERS", env: map[string]string{"EASEL_WORKERS": "abc"}, args: []string{"serve", "--role", "api"}, want: "EASEL_WORKERS: "},
		{name: "serve, EASEL_LOG_LEVEL", env: map[string]string{"EASEL_LOG_LEVEL": "verbose"}, args: []string{"serve"}, want: `EASEL_LOG_LEVEL: "verbose" is not one of debug, info, warn, error`},
		{name: "serve, FAL_MEDIA_EXPIRATION", env: map[string]string{"FAL_MEDIA_EXPIRATION": "0"}, args: []string{"serve"}, want: `FAL_MEDIA_EXPIRATION: "0" is not a duration of at least 1s`},
		{name: "serve, FAL_STORE_IO", env: map[string]string{"FAL_STORE_IO": "never"}, args: []string{"serve"}, want: `FAL_STORE_IO: "never" is not true or false`},
		{name: "sim", env: map[string]string{"EASEL_LOG_LEVEL": "DEBUG+2"}, args: []string{"sim"}, want: `EASEL_LOG_LEVEL: "DEBUG+2"`},
		{name: "enqueue", env: map[string]string{"EASEL_LOG_LEVEL": "verbose"}, args: []string{"enqueue", "--prompt", "x"}, want: "EASEL_LOG_LEVEL: "},
		{name: "bench", env: map[string]string{"EASEL_LOG_LEVEL": "verbose"}, args: []string{"bench"}, want: "EASEL_LOG_LEVEL: "},
		{name: "healthcheck", env: map[string]string{"EASEL_LOG_LEVEL": "verbose"}, args: []string{"healthcheck"}, want: "EASEL_LOG_LEVEL: "},
		{name: "migrate", env: map[string]string{"EASEL_LOG_LEVEL": "verbose"}, args: []string{"migrate", "version"}, want: "EASEL_LOG_LEVEL: "},
		{name: "keys", env: map[string]string{"EASEL_LOG_LEVEL": "verbose"}, args: []string{"keys", "list"}, want: "EASEL_LOG_LEVEL: "},
		{name: "healthcheck, EASEL_ADDR", env: map[string]string{"EASEL_ADDR": "a b:80"}, args: []string{"healthcheck"}, want: `EASEL_ADDR: "a b:80": host "a b" is not a host name or IP address; fix it, or give --url`},
		{name: "healthcheck, EASEL_ADDR's port", env: map[string]string{"EASEL_ADDR": "127.0.0.1:99999"}, args: []string{"healthcheck"}, want: `EASEL_ADDR: "127.0.0.1:99999": port "99999" is not a number from 0 to 65535`},
		{name: "enqueue, EASEL_ADDR", env: map[string]string{"EASEL_ADDR": "bogus"}, args: []string{"enqueue", "--prompt", "x"}, want: `EASEL_ADDR: "bogus": not host:port; fix it, or give --server`},
		{name: "enqueue, EASEL_PUBLIC_URL", env: map[string]string{"EASEL_PUBLIC_URL": "nope", "EASEL_ADDR": "bogus"}, args: []string{"enqueue", "--prompt", "x"}, want: `EASEL_PUBLIC_URL: "nope" is not an http(s) URL; fix it, or give --server`},
		{name: "keys create, EASEL_ADDR", env: map[string]string{"EASEL_ADDR": "bogus"}, args: []string{"keys", "create", "billing"}, want: `EASEL_ADDR: "bogus": not host:port`},
		{name: "keys create, EASEL_CALLBACK_SECRET", env: map[string]string{"EASEL_CALLBACK_SECRET": "whsec_c2hvcnQ="}, args: []string{"keys", "create", "billing"}, want: "EASEL_CALLBACK_SECRET: "},
		{name: "keys, DATABASE_URL", env: map[string]string{"DATABASE_URL": "postgres://u:p@ss word@127.0.0.1/db"}, args: []string{"keys", "list"}, want: "DATABASE_URL: not a Postgres URL"},
		{name: "migrate, DATABASE_URL", env: map[string]string{"DATABASE_URL": "postgres://u:p@ss word@127.0.0.1/db"}, args: []string{"migrate", "version"}, want: "DATABASE_URL: not a Postgres URL"},
		{name: "serve, EASEL_ADDR's port", env: map[string]string{"EASEL_ADDR": "127.0.0.1:99999"}, args: []string{"serve"}, want: `EASEL_ADDR: "127.0.0.1:99999": port "99999" is not a number from 0 to 65535`},
		{name: "serve --role worker, EASEL_PUBLIC_URL", args: []string{"serve", "--role", "worker"}, want: "EASEL_PUBLIC_URL: must be set with --role worker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			env := map[string]string{"DATABASE_URL": unreachableDB}
			maps.Copy(env, tt.env)
			code, stdout, stderr := easel(t, cancelled(), env, tt.args...)
			require.Equal(t, 2, code, "stderr: %s", stderr)
			require.Empty(t, stdout)
			text := failure(t, tt.args[0], stderr)
			require.Contains(t, text, tt.want)
			require.NotContains(t, text, "ss word", "DATABASE_URL's value is never shown")
		})
	}
}

func TestServeHelpNamesItsConfiguration(t *testing.T) {
	t.Parallel()

	code, stdout, _ := easel(t, cancelled(), nil, "serve", "--help")
	require.Zero(t, code)
	require.Contains(t, stdout, "README.md's Configuration table")
	require.Contains(t, stdout, "--role role")
	require.Contains(t, stdout, "(default EASEL_ROLE, else all)")
	require.Contains(t, stdout, "--addr host:port")
	require.Contains(t, stdout, "(default EASEL_ADDR, else 127.0.0.1:8080)")
}

// easel bench --help warns of what a run takes before anyone starts one.
func TestBenchHelpSaysWhatItCosts(t *testing.T) {
	t.Parallel()

	code, stdout, _ := easel(t, cancelled(), nil, "bench", "--help")
	require.Zero(t, code)
	about := strings.Join(strings.Fields(stdout), " ")
	for _, want := range []string{
		"creates a scratch database", "drops the database", "20,000 generations", "1,000,000 history rows",
		"several minutes", "every core busy", "(default 20000)", "(default 1000000)",
	} {
		require.Contains(t, about, want)
	}
}

func TestEnqueueHelpSaysServerDefaultOnce(t *testing.T) {
	t.Parallel()

	code, stdout, _ := easel(t, cancelled(), map[string]string{"EASEL_PUBLIC_URL": "https://easel.example.com"}, "enqueue", "--help")
	require.Zero(t, code)
	require.Contains(t, stdout, "  --server URL\n    \tbase URL of the Easel server (default \"https://easel.example.com\")\n")
	require.Contains(t, stdout, "EASEL_API_KEY")
}

func TestVersion(t *testing.T) {
	t.Parallel()

	latest, err := migrations.Latest()
	require.NoError(t, err)
	for _, args := range [][]string{{"version"}, {"--version"}} {
		// No database, nor a valid environment, is needed.
		code, stdout, stderr := easel(t, cancelled(), badEnv, args...)
		require.Zero(t, code, stderr)
		require.True(t, strings.HasPrefix(stdout, "easel "), stdout)
		require.Contains(t, stdout, "  go           "+runtime.Version()+" ")
		require.True(t, strings.HasSuffix(stdout, fmt.Sprintf("  schema       %d\n", latest)), stdout)
	}
}

func TestWriteVersion(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		info *debug.BuildInfo
		want string
	}{
		{
			name: "no build information",
			want: "easel (devel)\n  go           go1.26.8 " + runtime.GOOS + "/" + runtime.GOARCH + "\n  schema       47\n",
		},
		{
			name: "a module version",
			info: &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}},
			want: "easel v1.4.0\n  go           go1.26.8 " + runtime.GOOS + "/" + runtime.GOARCH + "\n  schema       47\n",
		},
		{
			name: "a working tree with uncommitted changes",
			info: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "e3c4019aa"}, {Key: "vcs.time", Value: "2026-05-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
			}},
			want: "easel (devel)\n  commit       e3c4019aa (with uncommitted changes)\n  commit time  2026-05-01T10:00:00Z\n" +
				"  go           go1.26.8 " + runtime.GOOS + "/" + runtime.GOARCH + "\n  schema       47\n",
		},
		{
			name: "empty module version",
			info: &debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "e3c4019aa"}, {Key: "vcs.modified", Value: "false"}}},
			want: "easel (devel)\n  commit       e3c4019aa\n  go           go1.26.8 " + runtime.GOOS + "/" + runtime.GOARCH + "\n  schema       47\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b strings.Builder
			writeVersion(&b, buildinfo.From(tt.info), "go1.26.8", 47)
			require.Equal(t, tt.want, b.String())
		})
	}
}

// The commands that never create the database say how to get one.
func TestMigrateOnMissingDatabase(t *testing.T) {
	t.Parallel()

	for _, args := range [][]string{{"migrate", "version"}, {"migrate", "down"}, {"migrate", "force", "1"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			url := dbtest.MissingURL(t)
			code, stdout, stderr := easel(t, context.Background(), map[string]string{"DATABASE_URL": url}, args...)
			require.Equal(t, 1, code, stderr)
			require.Empty(t, stdout)
			require.Contains(t, stderr, "database does not exist: check DATABASE_URL, or create the database and its schema first with easel migrate up")
			_, _, err := migrations.CurrentVersion(context.Background(), url)
			require.ErrorIs(t, err, migrations.ErrNoDatabase, "nothing created")
		})
	}
}

// README's Commands table names every command the usage lists.
func TestREADMENamesEveryCommand(t *testing.T) {
	t.Parallel()

	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, commands, ok := strings.Cut(usage, "commands:\n")
	require.True(t, ok)
	commands, _, _ = strings.Cut(commands, "\n\n")
	for line := range strings.Lines(commands) {
		name := strings.Fields(line)[0]
		require.Contains(t, string(readme), "| `easel "+name, "README's Commands table has no row for easel %s", name)
	}
}
