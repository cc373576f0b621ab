package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/easelhq/easel/internal/logthrottle"
)

// River logs an ERROR line for every failed attempt of each of its
// services' loops: while the database is down, a process writes about 45
// a minute (producers fetching jobs and queue settings, the leadership
// elector, the notifier), burying the lines that say something new. Each
// message gets one ERROR line at most every riverErrorEvery; the ones in
// between are kept at DEBUG, and counted into the next ERROR line.
const riverErrorEvery = time.Minute

// riverLogger is the logger River logs through on h: its routine Info
// records dropped (riverLogHandler), its ERROR lines throttled and its
// errors under Easel's key (riverErrorHandler).
func riverLogger(h slog.Handler, opts ...logthrottle.Option) *slog.Logger {
	return slog.New(newRiverErrorHandler(newRiverLogHandler(h), opts...))
}

// riverErrorHandler renames River's attribute err to Easel's error, at
// every level, and lets through one ERROR record per message every
// riverErrorEvery, with repeated, the records it stands for (itself
// included), and since, when the first of them came, once it stands for
// more than itself. The rest are passed on at DEBUG. Handlers derived with
// WithAttrs or WithGroup share the throttle, as River's services log
// through loggers derived from one.
type riverErrorHandler struct {
	slog.Handler
	throttle *logthrottle.Throttle
}

func newRiverErrorHandler(h slog.Handler, opts ...logthrottle.Option) *riverErrorHandler {
	// River's messages are constants, a small fixed set of keys: none is
	// forgotten, and the repeats an outage left at DEBUG are counted into
	// the message's next ERROR line, with since telling how old they are.
	return &riverErrorHandler{Handler: h, throttle: logthrottle.New(riverErrorEvery, 0, opts...)}
}

func (h *riverErrorHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(renameErr(a))
		return true
	})
	if r.Level >= slog.LevelError {
		n, since, ok := h.throttle.Allow(r.Message)
		switch {
		case !ok:
			out.Level = slog.LevelDebug
			// The logger asked whether the handler takes ERROR, not DEBUG,
			// and slog's handlers write whatever Handle is given.
			if !h.Handler.Enabled(ctx, slog.LevelDebug) {
				return nil
			}
		case n > 1:
			out.AddAttrs(slog.Int("repeated", n), slog.Time("since", since))
		}
	}
	return h.Handler.Handle(ctx, out)
}

func (h *riverErrorHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	renamed := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		renamed[i] = renameErr(a)
	}
	return &riverErrorHandler{Handler: h.Handler.WithAttrs(renamed), throttle: h.throttle}
}

func (h *riverErrorHandler) WithGroup(name string) slog.Handler {
	return &riverErrorHandler{Handler: h.Handler.WithGroup(name), throttle: h.throttle}
}

// renameErr puts River's err under the key error, where Easel's own lines,
// and so the queries over them, have it.
func renameErr(a slog.Attr) slog.Attr {
	if a.Key == "err" {
		a.Key = "error"
	}
	return a
}
