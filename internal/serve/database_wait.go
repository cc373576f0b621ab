package serve

import (
	"context"
	"errors"
	"fmt"
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

// waitForDatabase returns once connect succeeds, or fails with an error
// that waiting cannot mend (a wrong password, a database that does not
// exist is not one: it is created next), or its pauses between attempts
// would exceed maxWait.
// It logs once when it starts waiting and once when the database answers.
func waitForDatabase(ctx context.Context, connect func(context.Context) error, logger *slog.Logger, maxWait, firstRetry time.Duration) error {
	retry, waited := firstRetry, time.Duration(0)
	var waitingSince time.Time
	for attempts := 1; ; attempts++ {
		err := connect(ctx)
		if err == nil || missingDatabase(err) {
			if !waitingSince.IsZero() {
				logger.Info("database reachable; starting", "waited", time.Since(waitingSince).Round(time.Millisecond), "attempts", attempts)
			}
			return nil
		}
		// maxWait bounds the pauses between attempts, so that the schedule
		// does not depend on how long each attempt took.
		if !transient(err) || waited+retry > maxWait {
			return fmt.Errorf("connect to the database: %w", err)
		}
		if waitingSince.IsZero() {
			waitingSince = time.Now()
			logger.Warn("database unreachable; waiting for it", "error", err, "for_at_most", maxWait)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("connect to the database: %w", errors.Join(ctx.Err(), err))
		case <-time.After(retry):
		}
		waited += retry
		retry = min(2*retry, 2*time.Second)
	}
}

// connectTo is waitForDatabase's connect for databaseURL.
func connectTo(databaseURL string) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
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
	var opErr *net.OpError
	return errors.As(err, &opErr) || pgconn.Timeout(err)
}
