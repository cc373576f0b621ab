package jobs

import (
	"context"
	"log/slog"
	"strings"
)

// riverInfoKept are the messages of River's Info records that still reach
// the log at Info: the client's start and stop, and what goes wrong with a
// job or with the client. River prefixes most messages with the service's
// name ("producer: "), which is left out here. The rest of River's Info
// records, such as the producers' job counts every few seconds and the
// maintenance services' reports, are kept for Debug.
var riverInfoKept = map[string]bool{
	"River client started":                         true,
	"River client stopped":                         true,
	"Hard stop started; cancelling all work":       true,
	"Job errored":                                  true,
	"Job errored; retrying":                        true,
	"Job panicked":                                 true,
	"Job stopped due to client shutdown; retrying": true,
	"Notifier unhealthy":                           true,
	"Database does not support listener; entering poll only mode": true,
}

// riverLogHandler is the slog.Handler River logs through. Records at Warn
// and above, and Debug ones, pass to the handler below as they are (which
// drops Debug unless enabled for it); Info records pass only when
// riverInfoKept names their message, or when the handler below is enabled
// for Debug and so shows everything.
type riverLogHandler struct{ slog.Handler }

func newRiverLogHandler(h slog.Handler) *riverLogHandler {
	return &riverLogHandler{Handler: h}
}

func (h *riverLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelInfo && r.Level < slog.LevelWarn && !h.Handler.Enabled(ctx, slog.LevelDebug) {
		msg := r.Message
		if _, unprefixed, ok := strings.Cut(msg, ": "); ok {
			msg = unprefixed
		}
		if !riverInfoKept[msg] {
			return nil
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h *riverLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return newRiverLogHandler(h.Handler.WithAttrs(attrs))
}

func (h *riverLogHandler) WithGroup(name string) slog.Handler {
	return newRiverLogHandler(h.Handler.WithGroup(name))
}
