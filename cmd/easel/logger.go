package main

import (
	"fmt"
	"io"
	"log/slog"
)

// newLogger returns the JSON logger every command logs with, at the level
// EASEL_LOG_LEVEL names (debug, info, warn or error; info when unset).
func newLogger(getenv func(string) string, w io.Writer) (*slog.Logger, error) {
	level := slog.LevelInfo
	if v := getenv("EASEL_LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			return nil, fmt.Errorf("EASEL_LOG_LEVEL %q: must be debug, info, warn or error", v)
		}
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})), nil
}
