package serve

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/logtest"
)

// River UI's lines carry their error as error, as Easel's and River's do,
// however River UI passes it; other attributes are left alone.
func TestRiverUILoggerNamesErrorsError(t *testing.T) {
	t.Parallel()

	boom := errors.New("boom")
	tests := []struct {
		name string
		log  func(*slog.Logger)
		want map[string]any
	}{
		// As River UI's query cacher and API endpoints log.
		{name: "in the record", log: func(l *slog.Logger) { l.Error("querycacher: Error running query", "err", boom) },
			want: map[string]any{"error": "boom"}},
		{name: "in WithAttrs", log: func(l *slog.Logger) { l.With("err", boom).Warn("Unable to estimate large job counts") },
			want: map[string]any{"error": "boom"}},
		{name: "as an Attr", log: func(l *slog.Logger) {
			l.LogAttrs(t.Context(), slog.LevelError, "Error writing static file", slog.Any("err", boom))
		},
			want: map[string]any{"error": "boom"}},
		{name: "error already", log: func(l *slog.Logger) { l.Error("x", "error", boom) }, want: map[string]any{"error": "boom"}},
		{name: "in a group", log: func(l *slog.Logger) { l.WithGroup("g").Error("x", "err", boom) },
			want: map[string]any{"g": map[string]any{"error": "boom"}}},
		{name: "other attributes", log: func(l *slog.Logger) { l.Info("x", "errors", 2, "kind", "k") },
			want: map[string]any{"errors": float64(2), "kind": "k"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logs := &logtest.Buffer{}
			tt.log(riverUILogger(slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))).With("component", "riverui"))
			records := logs.Records(t)
			require.Len(t, records, 1)
			got := records[0]
			require.Equal(t, "riverui", got["component"])
			for _, key := range []string{"time", "level", "msg", "component"} {
				delete(got, key)
			}
			require.Equal(t, tt.want, got)
		})
	}
}
