package main

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

// The wait of easel keys and easel migrate for Postgres, as easel serve's
// at start (internal/serve/database_wait.go): a `docker compose run` started
// with Postgres, or a migration Job started while Postgres restarts, waits
// instead of exiting at once. It is written again here, not shared: serve's
// is unexported, and takes its migration along into the wait, which these
// commands do not need.

// databaseStartWait is how long keys and migrate wait for Postgres to
// accept connections, serve's 30 s.
const databaseStartWait = 30 * time.Second

// errDatabaseWaitOver is the error of a wait that ran out of time.
var errDatabaseWaitOver = errors.New("gave up waiting for it")

// commandDatabaseWait is the wait of the commands: retries from 100 ms,
// doubling up to 2 s, within databaseStartWait.
var commandDatabaseWait = databaseWait{maxWait: databaseStartWait, firstRetry: 100 * time.Millisecond}

// databaseWait is how a command waits for the database.
type databaseWait struct {
	// maxWait is a deadline on the whole wait, attempts included: an
	// address that accepts connections and never answers holds an attempt
	// until the deadline, not past it.
	maxWait    time.Duration
	firstRetry time.Duration // each next pause doubles, up to 2 s
}

// await returns nil once databaseURL's server accepts a connection, or
// answers with an error waiting cannot mend (a wrong password, a database
// that does not exist), which the command meets next and reports in its
// own words. While the server refuses connections (down, starting,
// shutting down, out of connections) it retries, logging once that it
// waits, and once that the database answered, until maxWait has passed.
// What it logs and returns shows pgx's errors, which name the user, host
// and database, never the password.
func (w databaseWait) await(ctx context.Context, databaseURL string, logger *slog.Logger) error {
	cfg, err := migrations.ConnConfig(databaseURL)
	if err != nil {
		return err
	}
	start := time.Now()
	deadline := start.Add(w.maxWait)
	retry := w.firstRetry
	waiting := false
	for attempts := 1; ; attempts++ {
		err := connectOnce(ctx, cfg, deadline)
		if err == nil || !transientConnectError(err) {
			if waiting {
				logger.Info("database reachable", "waited", time.Since(start).Round(time.Millisecond), "attempts", attempts)
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("connect to the database: %w: %w", context.Cause(ctx), err)
		}
		// A pause that would end at the deadline or past it leaves no
		// time for another attempt.
		if time.Until(deadline) <= retry {
			return fmt.Errorf("connect to the database: %w after %s: %w", errDatabaseWaitOver, w.maxWait, err)
		}
		if !waiting {
			waiting = true
			logger.Warn("database unreachable; waiting for it", "error", err, "for_at_most", w.maxWait)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("connect to the database: %w: %w", context.Cause(ctx), err)
		case <-time.After(retry):
		}
		retry = min(2*retry, 2*time.Second)
	}
}

// connectOnce connects to cfg's database and closes the connection, within
// 5 seconds and before deadline.
func connectOnce(ctx context.Context, cfg *pgx.ConnConfig, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// transientConnectError reports whether a failed connection may succeed
// soon: the server refusing connections, not these credentials or this
// database. It classifies errors as easel serve's wait does.
func transientConnectError(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 57P0x: shutting down, crashed, cannot connect now (starting up);
		// 53300: too many connections; class 08: connection exceptions.
		return strings.HasPrefix(pgErr.Code, "57P") || pgErr.Code == "53300" || strings.HasPrefix(pgErr.Code, "08")
	}
	// A connection Postgres closed while shutting down, before or instead
	// of its FATAL message.
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) || pgconn.Timeout(err)
}
