package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
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
			require.Equal(t, 1, exitCode(err, io.Discard), "a bad setting, as for every other variable")
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
