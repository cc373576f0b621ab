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

func createDatabase(ctx context.Context, serverURL string) (*database, error) {
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := "easel_bench_" + time.Now().UTC().Format("20060102_150405") + "_" + hex.EncodeToString(suffix)
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
