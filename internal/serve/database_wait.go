package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/easelhq/easel/migrations"
)

// databaseStartWait is how long easel serve waits at start for Postgres to
// accept connections: a process restarted while Postgres restarts (or
// started with it, as in docker compose) waits instead of exiting.
const databaseStartWait = 30 * time.Second

// errDatabaseWaitOver is the error of a start-up wait that ran out of time.
var errDatabaseWaitOver = errors.New("gave up waiting for it")

// prepareDatabase is databaseWait.prepare on the real clock.
func prepareDatabase(ctx context.Context, connect, prepare func(context.Context) error, logger *slog.Logger, maxWait, firstRetry time.Duration) error {
	return databaseWait{maxWait: maxWait, firstRetry: firstRetry}.prepare(ctx, connect, prepare, logger)
}

// databaseWait is how easel serve waits for the database at start.
type databaseWait struct {
	// maxWait is a deadline on the whole wait, attempts included: a
	// server that accepts connections and never answers holds each
	// attempt until the deadline, not past it.
	maxWait    time.Duration
	firstRetry time.Duration // the first pause; each next one doubles, up to 2 s
	// deadline, when set, replaces start + maxWait: prepare waits again
	// within the deadline of its first wait.
	deadline time.Time
	// now and after are its clock; nil means the real one. Tests step a
	// fake one.
	now   func() time.Time
	after func(time.Duration) <-chan time.Time
}

// wait returns once connect succeeds, or fails with an error that waiting
// cannot mend (a wrong password; a database that does not exist is not
// one: it is created next), or once maxWait has passed, or too little of it
// is left for another pause. Each attempt's context ends at the deadline.
// It logs once when it starts waiting and once when the database answers.
func (w databaseWait) wait(ctx context.Context, connect func(context.Context) error, logger *slog.Logger) error {
	now, after := w.now, w.after
	if now == nil {
		now = time.Now
	}
	if after == nil {
		after = time.After
	}
	start := now()
	deadline := w.deadline
	if deadline.IsZero() {
		deadline = start.Add(w.maxWait)
	}
	retry := w.firstRetry
	waiting := false
	for attempts := 1; ; attempts++ {
		attemptCtx, cancel := context.WithDeadline(ctx, deadline)
		err := connect(attemptCtx)
		cancel()
		if err == nil || missingDatabase(err) {
			if waiting {
				logger.Info("database reachable; starting", "waited", now().Sub(start).Round(time.Millisecond), "attempts", attempts)
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("connect to the database: %w: %w", ctx.Err(), err)
		}
		if !transient(err) {
			return fmt.Errorf("connect to the database: %w", err)
		}
		// A pause that would end at the deadline or past it leaves no
		// time for another attempt.
		if deadline.Sub(now()) <= retry {
			return fmt.Errorf("connect to the database: %w after %s: %w", errDatabaseWaitOver, w.maxWait, err)
		}
		if !waiting {
			waiting = true
			logger.Warn("database unreachable; waiting for it", "error", err, "for_at_most", w.maxWait)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("connect to the database: %w: %w", ctx.Err(), err)
		case <-after(retry):
		}
		retry = min(2*retry, 2*time.Second)
	}
}

// prepare waits for the database, then runs prepare (create the database
// if missing, migrate it) on ctx alone: a migration may take longer than the
// wait allows. Postgres restarting meanwhile fails prepare with a transient
// error (57P01 from the schema's version read, in a chaos run), which sends
// it back to waiting within the same deadline, as a restart before the
// first connection would; a migration it interrupts is left dirty, which is
// not transient and ends the start with the command that mends it.
func (w databaseWait) prepare(ctx context.Context, connect, prepare func(context.Context) error, logger *slog.Logger) error {
	now := w.now
	if now == nil {
		now = time.Now
	}
	w.deadline = now().Add(w.maxWait)
	for {
		if err := w.wait(ctx, connect, logger); err != nil {
			return err
		}
		err := prepare(ctx)
		if err == nil || !transient(err) || !now().Before(w.deadline) {
			return err
		}
		logger.Warn("database went away while being prepared; waiting for it again", "error", err, "for_at_most", w.deadline.Sub(now()).Round(time.Millisecond))
	}
}

// connectTo is databaseWait's connect for databaseURL. Each attempt gets
// 5 seconds at most, less when the wait's deadline is nearer.
func connectTo(databaseURL string) func(context.Context) error {
	return connectWithin(databaseURL, 5*time.Second)
}

// connectWithin is connectTo with each attempt bounded by limit.
func connectWithin(databaseURL string, limit time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, limit)
		defer cancel()
		cfg, err := migrations.ConnConfig(databaseURL)
		if err != nil {
			return err
		}
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	}
}

func missingDatabase(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "3D000"
}

// transient reports whether a failed connection may succeed soon: the
// server refusing connections (down, starting, shutting down, full), not
// rejecting these credentials or this database.
func transient(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 57P0x: shutting down, crashed, cannot connect now (starting up);
		// 53300: too many connections; class 08: connection exceptions.
		return strings.HasPrefix(pgErr.Code, "57P") || pgErr.Code == "53300" || strings.HasPrefix(pgErr.Code, "08")
	}
	// A connection Postgres closed while shutting down, before or instead
	// of its FATAL message: "failed to receive message: unexpected EOF".
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) || pgconn.Timeout(err)
}
