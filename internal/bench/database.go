package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// database is the throwaway database one bench run works in, created beside
// whatever database the configured URL names so that nothing else's rows or
// statistics mix into the figures.
type database struct {
	name     string
	url      string // the bench database
	adminURL string // the server's "postgres" database, for statistics
}

// createDatabase creates a database named easel_bench_<time>_<random>
// followed by suffix.
func createDatabase(ctx context.Context, serverURL, suffix string) (*database, error) {
	random := make([]byte, 4)
	_, _ = rand.Read(random)
	name := "easel_bench_" + time.Now().UTC().Format("20060102_150405") + "_" + hex.EncodeToString(random) + suffix
	db := &database{name: name}
	var err error
	if db.url, err = withDatabase(serverURL, name); err != nil {
		return nil, err
	}
	if db.adminURL, err = withDatabase(serverURL, "postgres"); err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, db.adminURL)
	if err != nil {
		return nil, fmt.Errorf("connect to create database %s: %w", name, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	return db, nil
}

// dropUnlessKept drops the database unless cfg keeps it.
func (d *database) dropUnlessKept(ctx context.Context, cfg Config) error {
	if cfg.KeepDatabase {
		cfg.progress("kept database %s", d.name)
		return nil
	}
	return d.drop(ctx)
}

// drop removes the database, ending any connection left on it.
func (d *database) drop(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, d.adminURL)
	if err != nil {
		return fmt.Errorf("connect to drop database %s: %w", d.name, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{d.name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", d.name, err)
	}
	return nil
}

// commits returns the database's committed transaction count once every
// connection to it has closed. Backends report their counters to
// pg_stat_database only now and then, and for certain when they exit, so a
// count read while connections are open would miss their latest commits.
func (d *database) commits(ctx context.Context) (int64, error) {
	conn, err := pgx.Connect(ctx, d.adminURL)
	if err != nil {
		return 0, fmt.Errorf("connect to read statistics of %s: %w", d.name, err)
	}
	defer conn.Close(ctx)

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		var open int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1`, d.name).Scan(&open); err != nil {
			return 0, fmt.Errorf("wait for connections to %s to close: %w", d.name, err)
		}
		if open == 0 {
			break
		}
		if err := pause(ctx, 20*time.Millisecond); err != nil {
			return 0, fmt.Errorf("wait for %d connection(s) to %s to close: %w", open, d.name, err)
		}
	}

	// A backend leaves pg_stat_activity a moment before it flushes its
	// counters on exit: read until two reads agree.
	var last int64 = -1
	for {
		var n int64
		if err := conn.QueryRow(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = $1`, d.name).Scan(&n); err != nil {
			return 0, fmt.Errorf("read commits of %s: %w", d.name, err)
		}
		if n == last {
			return n, nil
		}
		last = n
		if err := pause(ctx, 50*time.Millisecond); err != nil {
			return 0, fmt.Errorf("read commits of %s: %w", d.name, err)
		}
	}
}

// withDatabase swaps the database of a URL or keyword/value connection string.
func withDatabase(databaseURL, name string) (string, error) {
	if !strings.Contains(databaseURL, "://") {
		return databaseURL + " dbname=" + name, nil
	}
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "", errors.New("DATABASE_URL is not a valid URL") // the URL may hold a password
	}
	u.Path = "/" + name
	return u.String(), nil
}

// pause waits for d, or returns ctx's error.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Durability is what the server does to make a commit durable, which
// decides what a commit costs: figures taken with synchronous_commit or
// fsync off are not comparable with ones taken with them on.
type Durability struct {
	SynchronousCommit string `json:"synchronous_commit"`
	Fsync             string `json:"fsync"`
	FullPageWrites    string `json:"full_page_writes"`
}

// warnings says what in d makes commits cheaper than durable ones.
func (d Durability) warnings() []string {
	var ws []string
	if d.SynchronousCommit == "off" {
		ws = append(ws, "synchronous_commit is off: commits return before their WAL is flushed, so every figure that commits is faster than on a durable server")
	}
	if d.Fsync == "off" {
		ws = append(ws, "fsync is off: nothing is flushed to disk, so every figure that commits is faster than on a durable server, and a crash can corrupt the cluster")
	}
	return ws
}

// readServer reads the server's version and durability settings as the bench
// database's sessions see them: per-role and PGOPTIONS settings apply.
func readServer(ctx context.Context, dbURL string) (version string, d Durability, err error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return "", d, fmt.Errorf("connect to the bench database: %w", err)
	}
	defer conn.Close(ctx)
	err = conn.QueryRow(ctx, `SELECT current_setting('server_version'), current_setting('synchronous_commit'),
		current_setting('fsync'), current_setting('full_page_writes')`).Scan(&version, &d.SynchronousCommit, &d.Fsync, &d.FullPageWrites)
	if err != nil {
		return "", d, fmt.Errorf("read server version and durability settings: %w", err)
	}
	return version, d, nil
}

// clockSample is one read of Postgres's clock, between two of this
// process's.
type clockSample struct{ sent, postgres, received time.Time }

// clockOffsetRounds is how many round trips clockOffset takes the quickest
// of.
const clockOffsetRounds = 10

// readClockOffset returns how far Postgres's clock is ahead of this
// process's, so that a time this process took can be compared with one
// Postgres stamped (now(), created_at). On one machine both read the same
// clock and the offset is within half a round trip of zero.
func readClockOffset(ctx context.Context, conn *pgx.Conn) (time.Duration, error) {
	samples := make([]clockSample, clockOffsetRounds)
	for i := range samples {
		s := &samples[i]
		s.sent = time.Now()
		if err := conn.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&s.postgres); err != nil {
			return 0, fmt.Errorf("read Postgres's clock: %w", err)
		}
		s.received = time.Now()
	}
	return clockOffset(samples), nil
}

// clockOffset estimates Postgres's clock minus this process's from the
// quickest round trip, whose midpoint is the best guess at when Postgres
// read its clock: the error is at most half that round trip.
func clockOffset(samples []clockSample) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	best := samples[0]
	for _, s := range samples[1:] {
		if s.received.Sub(s.sent) < best.received.Sub(best.sent) {
			best = s
		}
	}
	// Postgres's time has no monotonic reading, so this subtracts wall clocks.
	midpoint := best.sent.Add(best.received.Sub(best.sent) / 2)
	return best.postgres.Sub(midpoint)
}

// idlePoll is how often waitIdle looks.
const idlePoll = 5 * time.Millisecond

// waitIdle returns once no generation is unfinished and River has no job to
// work now: none available or running, and none scheduled or retryable
// that is due. Jobs scheduled for later (a poll of fal after
// EASEL_POLL_AFTER, say) and pending ones, which wait for something else,
// are not work now.
func waitIdle(ctx context.Context, conn *pgx.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, stallTimeout)
	defer cancel()
	var unfinished, jobs int
	for {
		err := conn.QueryRow(ctx, `
			SELECT (SELECT count(*) FROM generations WHERE finished_at IS NULL),
				(SELECT count(*) FROM river_job
				 WHERE state IN ('available', 'running')
					OR (state IN ('scheduled', 'retryable') AND scheduled_at <= now()))`).Scan(&unfinished, &jobs)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("wait for an idle system: %w", err)
		}
		if unfinished == 0 && jobs == 0 {
			return nil
		}
		if pause(ctx, idlePoll) != nil {
			break
		}
	}
	return fmt.Errorf("wait for an idle system: still %d unfinished generation(s) and %d River job(s) to work after %s: %w",
		unfinished, jobs, stallTimeout, ctx.Err())
}
