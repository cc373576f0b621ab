// Package dbwait waits for Postgres to accept connections. A process
// started with Postgres (docker compose), or while it restarts (a rollout,
// a migration Job during a Postgres upgrade), waits for it instead of
// failing at once: easel serve at start, easel keys and easel migrate
// before they run. They share this wait so that they retry, log and give
// up alike.
package dbwait

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// ErrGaveUp is the error of a wait that ran out of time.
var ErrGaveUp = errors.New("gave up waiting for it")

// AtStart is the wait of a process starting: retries from 100 ms, doubling
// up to 2 s, within 30 s.
func AtStart() Wait {
	return Wait{Max: 30 * time.Second, FirstRetry: 100 * time.Millisecond}
}

// Wait is how a process waits for the database.
type Wait struct {
	// Max is a deadline on the whole wait, attempts included: a server
	// that accepts connections and never answers holds each attempt until
	// the deadline, not past it.
	Max        time.Duration
	FirstRetry time.Duration // the first pause; each next one doubles, up to 2 s
	// Deadline, when set, replaces the wait's start plus Max: a caller
	// waiting again (easel serve, when the database goes away while it is
	// migrated) does so within the deadline of its first wait.
	Deadline time.Time
	// Reachable is the INFO logged when the database answers after the
	// wait logged that it waits; "database reachable" when empty.
	Reachable string
	// Now and After are its clock; nil means the real one. Tests step a
	// fake one.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time

	// attempt bounds each connection attempt, 5 s when zero: one that
	// hangs leaves time for others. Tests lengthen it, to show that the
	// deadline alone ends an attempt in time.
	attempt time.Duration
}

// For returns once connect succeeds or says that the database does not
// exist (the server answered; whoever uses it creates or reports it), or
// fails with an error that waiting cannot mend (a wrong password), or once
// Max has passed, or too little of it is left for another pause. Each
// attempt's context ends at the deadline, or at its own limit if sooner.
// It logs once when it starts waiting and once when the database answers.
// What it logs and returns shows pgx's errors, which name the user, host
// and database, never the password.
func (w Wait) For(ctx context.Context, connect func(context.Context) error, logger *slog.Logger) error {
	now, after := w.Now, w.After
	if now == nil {
		now = time.Now
	}
	if after == nil {
		after = time.After
	}
	attemptLimit := cmp.Or(w.attempt, 5*time.Second)
	start := now()
	deadline := w.Deadline
	if deadline.IsZero() {
		deadline = start.Add(w.Max)
	}
	retry := w.FirstRetry
	waiting := false
	for attempts := 1; ; attempts++ {
		attemptEnd := now().Add(attemptLimit)
		if deadline.Before(attemptEnd) {
			attemptEnd = deadline
		}
		attemptCtx, cancel := context.WithDeadline(ctx, attemptEnd)
		err := connect(attemptCtx)
		cancel()
		if err == nil || missingDatabase(err) {
			if waiting {
				logger.Info(cmp.Or(w.Reachable, "database reachable"), "waited", now().Sub(start).Round(time.Millisecond), "attempts", attempts)
			}
			return nil
		}
		// The cause, not just "context canceled": a command interrupted
		// by a signal exits with the signal's status.
		if ctx.Err() != nil {
			return fmt.Errorf("connect to the database: %w: %w", context.Cause(ctx), err)
		}
		if !Transient(err) {
			return fmt.Errorf("connect to the database: %w", err)
		}
		// A pause that would end at the deadline or past it leaves no
		// time for another attempt.
		if deadline.Sub(now()) <= retry {
			return fmt.Errorf("connect to the database: %w after %s: %w", ErrGaveUp, w.Max, err)
		}
		if !waiting {
			waiting = true
			logger.Warn("database unreachable; waiting for it", "error", err, "for_at_most", w.Max)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("connect to the database: %w: %w", context.Cause(ctx), err)
		case <-after(retry):
		}
		retry = min(2*retry, 2*time.Second)
	}
}
