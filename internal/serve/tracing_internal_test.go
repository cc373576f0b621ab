package serve

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"

	"github.com/easelhq/easel/internal/clocktest"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/internal/logthrottle"
)

// A failed export of traces is something to look at: a WARN, not the INFO
// that OpenTelemetry's default handler becomes through the log package.
// With the collector down every export fails, so the WARN comes at the
// first failure, then at most once a minute with the count.
func TestOTelErrorsAreThrottledWarnings(t *testing.T) {
	t.Parallel()
	var logs logtest.Buffer
	clock := clocktest.New()
	h := newOTelErrorHandler(slog.New(slog.NewJSONHandler(&logs, nil)), logthrottle.WithClock(clock.Now))
	exportErr := func(cause string) error {
		return errors.New(`traces export: Post "http://127.0.0.1:4318/v1/traces": ` + cause)
	}

	h.Handle(exportErr("connection refused"))
	clock.Advance(5 * time.Second)
	h.Handle(exportErr("connection refused"))
	clock.Advance(5 * time.Second)
	secondAt := clock.Now()
	h.Handle(exportErr("i/o timeout")) // the same kind, another cause
	h.Handle(errors.New("context deadline exceeded"))
	clock.Advance(otelErrorWarnEvery)
	h.Handle(exportErr("connection reset by peer"))

	records := logs.Lines(t, "opentelemetry error; traces may be lost")
	require.Len(t, records, 3)
	for _, r := range records {
		require.Equal(t, "WARN", r["level"])
	}
	require.Equal(t, exportErr("connection refused").Error(), records[0]["error"])
	require.InDelta(t, 1, records[0]["errors"], 0)
	require.Equal(t, "context deadline exceeded", records[1]["error"], "another kind has lines of its own")
	require.Equal(t, exportErr("connection reset by peer").Error(), records[2]["error"], "the latest error")
	require.InDelta(t, 3, records[2]["errors"], 0, "the failures since the first line, this one included")
	since, err := time.Parse(time.RFC3339Nano, records[2]["since"].(string))
	require.NoError(t, err)
	require.True(t, since.Equal(secondAt.Add(-5*time.Second)), "since the first failure the line stands for: %s", since)
}

// OpenTelemetry's internal logger goes to easel serve's, at the levels it
// means: its warnings are WARNs, not below INFO as logr's verbosity 1 would
// be, and its chatter DEBUG.
func TestOTelLogLevels(t *testing.T) {
	t.Parallel()
	var logs logtest.Buffer
	l := logr.FromSlogHandler(otelLogLevels{slog.NewJSONHandler(&logs, nil)})

	l.Error(errors.New("bad"), "parse url", "input", "127.0.0.1:4318")
	l.V(1).Info("a warning")
	l.V(4).Info("an info") // below INFO: not logged
	l.V(8).Info("a debug")

	records := logs.Records(t)
	require.Len(t, records, 2)
	require.Equal(t, "ERROR", records[0]["level"])
	require.Equal(t, "parse url", records[0]["msg"])
	require.Equal(t, "WARN", records[1]["level"])
	require.Equal(t, "a warning", records[1]["msg"])

	var debugLogs logtest.Buffer
	l = logr.FromSlogHandler(otelLogLevels{slog.NewJSONHandler(&debugLogs, &slog.HandlerOptions{Level: slog.LevelDebug})}).WithValues("component", "opentelemetry")
	l.V(4).Info("an info")
	l.V(8).Info("a debug")
	records = debugLogs.Records(t)
	require.Len(t, records, 2)
	for _, r := range records {
		require.Equal(t, "DEBUG", r["level"])
		require.Equal(t, "opentelemetry", r["component"])
	}
}

// Tracing on, OpenTelemetry's errors go to easel serve's logger. The only
// test of this package exporting traces over OTLP, and so the only one
// setting OpenTelemetry's global handler.
func TestSetupTracingLogsOTelErrors(t *testing.T) {
	t.Parallel()
	var logs logtest.Buffer
	_, stop, err := setupTracing(context.Background(), Config{Tracing: true}, slog.New(slog.NewJSONHandler(&logs, nil)))
	require.NoError(t, err)
	t.Cleanup(stop)

	otel.Handle(errors.New("traces export: connection refused"))

	warnings := logs.Lines(t, "opentelemetry error; traces may be lost")
	require.Len(t, warnings, 1)
	require.Equal(t, "WARN", warnings[0]["level"])
	require.Equal(t, "traces export: connection refused", warnings[0]["error"])
}
