package main

import (
	"fmt"
	"io"
	"log/slog"
)

// newLogger returns the JSON logger every command logs with, at the level
// EASEL_LOG_LEVEL names (debug, info, warn or error; info when unset), with
// durations as text.
func newLogger(getenv func(string) string, w io.Writer) (*slog.Logger, error) {
	level := slog.LevelInfo
	if v := getenv("EASEL_LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			return nil, fmt.Errorf("EASEL_LOG_LEVEL %q: must be debug, info, warn or error", v)
		}
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: durationText})), nil
}

// durationText writes durations as Go writes them ("1.5s"), where the JSON
// handler would write integer nanoseconds that nobody reads at a glance.
func durationText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}
