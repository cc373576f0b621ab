package serve

import (
	"context"
	"log/slog"
)

// riverUILogger is the logger River UI logs through: logger's, with River
// UI's attribute err under the key error, where Easel's own lines, River's
// (jobs.riverLogger) and the queries over them have it.
func riverUILogger(logger *slog.Logger) *slog.Logger {
	return slog.New(errRenamingHandler{logger.Handler()})
}

// errRenamingHandler passes records on with each attribute named err
// renamed error, in the record and in WithAttrs alike, within a group too.
type errRenamingHandler struct{ slog.Handler }

func (h errRenamingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(renamedErr(a))
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h errRenamingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	renamed := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		renamed[i] = renamedErr(a)
	}
	return errRenamingHandler{h.Handler.WithAttrs(renamed)}
}

func (h errRenamingHandler) WithGroup(name string) slog.Handler {
	return errRenamingHandler{h.Handler.WithGroup(name)}
}

func renamedErr(a slog.Attr) slog.Attr {
	if a.Key == "err" {
		a.Key = "error"
	}
	return a
}
