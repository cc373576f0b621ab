package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// newLogger returns the JSON logger every command logs with, at the level
// EASEL_LOG_LEVEL names (debug, info, warn or error, in any case and trimmed
// as every variable is; info when unset), with durations as text.
func newLogger(getenv func(string) string, w io.Writer) (*slog.Logger, error) {
	level := slog.LevelInfo
	// Not slog.Level's UnmarshalText, which takes offsets such as "DEBUG+2"
	// that README does not document.
	switch v := strings.TrimSpace(getenv("EASEL_LOG_LEVEL")); strings.ToLower(v) {
	case "", "info":
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		// A bad variable exits 2, as a bad flag does.
		return nil, usageError{fmt.Errorf("EASEL_LOG_LEVEL: %q is not one of debug, info, warn, error", v)}
	}
	return slog.New(jsonHandler(w, level)), nil
}

// jsonHandler is the handler of every command's logger, writing JSON lines
// to w from level up.
func jsonHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: durationText})
}

// durationText writes durations as Go writes them ("1.5s"), where the JSON
// handler would write integer nanoseconds that nobody reads at a glance.
func durationText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}
