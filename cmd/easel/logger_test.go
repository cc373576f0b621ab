package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNewLoggerLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		level     string
		wantDebug bool
		wantInfo  bool
	}{
		{level: "", wantInfo: true},
		{level: "  ", wantInfo: true},
		{level: "debug", wantDebug: true, wantInfo: true},
		{level: "DEBUG", wantDebug: true, wantInfo: true},
		{level: "info", wantInfo: true},
		{level: " info", wantInfo: true},
		{level: "Warn\n"},
		{level: "\terror "},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			logger, err := newLogger(func(string) string { return tt.level }, &buf)
			require.NoError(t, err)
			require.Equal(t, tt.wantDebug, logger.Enabled(context.Background(), -4), "debug")
			require.Equal(t, tt.wantInfo, logger.Enabled(context.Background(), 0), "info")
			logger.Error("boom")
			require.Contains(t, buf.String(), `"msg":"boom"`, "errors are always logged, as JSON")
		})
	}
}

// Only the four levels README names: not slog's offsets, nor its "warning".
func TestNewLoggerRefusesUnknownLevel(t *testing.T) {
	t.Parallel()
	for _, level := range []string{"verbose", "DEBUG+2", "info-4", "warning", "0", "in fo"} {
		t.Run(level, func(t *testing.T) {
			t.Parallel()
			_, err := newLogger(func(string) string { return " " + level + " " }, &bytes.Buffer{})
			require.EqualError(t, err, `EASEL_LOG_LEVEL: "`+level+`" is not one of debug, info, warn, error`)
			require.Equal(t, 2, exitCode(err, io.Discard), "a bad setting, as for every other variable")
		})
	}
}

func TestNewLoggerWritesDurationsAsText(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger, err := newLogger(func(string) string { return "" }, &buf)
	require.NoError(t, err)
	logger.Warn("will retry", "retry_in", 1500*time.Millisecond, slog.Group("job", "took", 2*time.Minute))
	require.Contains(t, buf.String(), `"retry_in":"1.5s"`)
	require.Contains(t, buf.String(), `"job":{"took":"2m0s"}`)
}

// easel serve's standard error is a log: the error it stops on is the last
// JSON line of it, at ERROR, whatever EASEL_LOG_LEVEL says (even when it is
// the error), so that a pipeline reading JSON keeps it. Other commands
// write their error as a line for whoever typed them.
func TestServeFailureIsALogLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		want     string
	}{
		{name: "bad variable", env: map[string]string{"EASEL_WORKERS": "abc"}, args: []string{"serve"}, wantCode: 2, want: `EASEL_WORKERS: "abc" is not a positive integer`},
		{name: "bad variables", env: map[string]string{"EASEL_WORKERS": "abc", "EASEL_ADDR": "nowhere"}, args: []string{"serve"}, wantCode: 2, want: `EASEL_ADDR: "nowhere" is not host:port` + "\n" + `EASEL_WORKERS: "abc" is not a positive integer`},
		{name: "log level errors only", env: map[string]string{"EASEL_WORKERS": "abc", "EASEL_LOG_LEVEL": "error"}, args: []string{"serve"}, wantCode: 2, want: `EASEL_WORKERS: "abc" is not a positive integer`},
		{name: "bad log level", env: map[string]string{"EASEL_LOG_LEVEL": "verbose"}, args: []string{"serve"}, wantCode: 2, want: `EASEL_LOG_LEVEL: "verbose" is not one of debug, info, warn, error`},
		{name: "bad flag", args: []string{"serve", "--role", "both"}, wantCode: 2, want: `invalid value "both" for flag -role: "both" is not one of all, api, worker; run 'easel serve --help' for usage`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"DATABASE_URL": unreachableDB}
			maps.Copy(env, tt.env)
			code, stdout, stderr := easel(t, cancelled(), env, tt.args...)
			require.Equal(t, tt.wantCode, code, stderr)
			require.Empty(t, stdout)

			require.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
			var line map[string]any
			require.NoError(t, json.Unmarshal([]byte(stderr), &line), stderr)
			require.Equal(t, "ERROR", line["level"])
			require.Equal(t, "easel serve failed", line["msg"])
			require.Equal(t, tt.want, line["error"])
			require.InDelta(t, tt.wantCode, line["exit_code"], 0)
			require.NotEmpty(t, line["time"])
		})
	}

	code, _, stderr := easel(t, cancelled(), map[string]string{"EASEL_LOG_LEVEL": "verbose"}, "migrate", "version")
	require.Equal(t, 2, code)
	require.Equal(t, "easel: EASEL_LOG_LEVEL: \"verbose\" is not one of debug, info, warn, error\n", stderr, "a command a person types")
}
