package serve

import (
	"context"
	"log/slog"
	"time"

	"github.com/easelhq/easel/internal/dbwait"
)

// prepareDatabase waits for the database as w says, then runs prepare
// (create the database if missing, migrate it) on ctx alone: a migration
// may take longer than the wait allows. Postgres restarting meanwhile fails
// prepare with a transient error (57P01 from the schema's version read, in
// a chaos run), which sends it back to waiting within the same deadline,
// as a restart before the first connection would; a migration it
// interrupts is left dirty, which is not transient and ends the start with
// the command that mends it.
func prepareDatabase(ctx context.Context, w dbwait.Wait, connect, prepare func(context.Context) error, logger *slog.Logger) error {
	now := w.Now
	if now == nil {
		now = time.Now
	}
	w.Deadline = now().Add(w.Max)
	for {
		if err := w.For(ctx, connect, logger); err != nil {
			return err
		}
		err := prepare(ctx)
		if err == nil || !dbwait.Transient(err) || !now().Before(w.Deadline) {
			return err
		}
		logger.Warn("database went away while being prepared; waiting for it again", "error", err, "for_at_most", w.Deadline.Sub(now()).Round(time.Millisecond))
	}
}
