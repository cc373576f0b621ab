package serve

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"

	"github.com/easelhq/easel/internal/logtest"
)

// A failed export of traces is something to look at: a WARN, not the INFO
// that OpenTelemetry's default handler becomes through the log package.
func TestOTelErrorsAreWarnings(t *testing.T) {
	t.Parallel()
	var logs logtest.Buffer
	exportErr := errors.New("traces export: Post \"http://127.0.0.1:4318/v1/traces\": connection refused")

	otelErrorHandler{slog.New(slog.NewJSONHandler(&logs, nil))}.Handle(exportErr)

	records := logs.Records(t)
	require.Len(t, records, 1)
	require.Equal(t, "WARN", records[0]["level"])
	require.Equal(t, exportErr.Error(), records[0]["error"])
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
