package dbtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/easelhq/easel/migrations"
	"github.com/easelhq/easel/store"
)

// ExampleDatabase creates and migrates a database of its own for a runnable
// Example, which has no testing.TB for Pool to clean up after, and returns a
// pool on it, whose connections register store's types as easel serve's
// do, and a function that closes the pool and drops the database.
func ExampleDatabase(ctx context.Context) (*pgxpool.Pool, func() error, error) {
	databaseURL, drop, err := EmptyExampleDatabase(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := migrations.Up(ctx, databaseURL, nil); err != nil {
		return nil, nil, errors.Join(err, drop())
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("parse example database URL: %w", err), drop())
	}
	cfg.AfterConnect = store.RegisterTypes
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("open example database: %w", err), drop())
	}
	return pool, func() error {
		pool.Close()
		return drop()
	}, nil
}

// EmptyExampleDatabase creates an empty database of its own for a runnable
// Example that migrates it its own way, and returns its URL and a function
// that drops it.
func EmptyExampleDatabase(ctx context.Context) (string, func() error, error) {
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		base = DefaultURL
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, fmt.Errorf("parse TEST_DATABASE_URL: %w", err)
	}
	name := "easel_example_" + strings.ToLower(rand.Text())
	u.Path = "/" + name
	if _, err := migrations.EnsureDatabase(ctx, u.String()); err != nil {
		return "", nil, err
	}
	return u.String(), func() error {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return fmt.Errorf("drop example database %s: %w", name, err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop example database %s: %w", name, err)
		}
		return nil
	}, nil
}
