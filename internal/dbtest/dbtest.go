// Package dbtest gives each test its own freshly migrated Postgres database,
// cloned from a template that is migrated once per schema version, so tests
// run in parallel without seeing each other's rows.
package dbtest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"io/fs"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/peterldowns/pgtestdb"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/migrations"
	"github.com/easelhq/easel/store"
)

// DefaultURL is where tests expect Postgres unless TEST_DATABASE_URL says
// otherwise.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// URL returns the connection string of a new, migrated database that is
// dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	return pgtestdb.Custom(t, Config(t), migrator{}).URL()
}

// Pool returns a pool on a new, migrated database that is dropped when the
// test ends. Its connections register store's types, as easel serve's do.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(URL(t))
	require.NoError(t, err)
	cfg.AfterConnect = store.RegisterTypes
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// Config is the Postgres server tests use, for a test that migrates its
// template its own way with pgtestdb.Custom.
func Config(t testing.TB) pgtestdb.Config {
	t.Helper()
	raw := os.Getenv("TEST_DATABASE_URL")
	if raw == "" {
		raw = DefaultURL
	}
	u, err := url.Parse(raw)
	require.NoError(t, err, "parse TEST_DATABASE_URL")
	password, _ := u.User.Password()
	db := u.Path
	if len(db) > 0 {
		db = db[1:]
	}
	return pgtestdb.Config{
		DriverName: "pgx",
		Host:       u.Hostname(),
		Port:       u.Port(),
		User:       u.User.Username(),
		Password:   password,
		Database:   db,
		Options:    u.RawQuery,
		// Easel's pools and River's listeners can outlive a test by a
		// moment; never let that fail the drop.
		ForceTerminateConnections: true,
	}
}

// migrator runs Easel's embedded migrations on the template database.
type migrator struct{}

func (migrator) Hash() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations.FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS(), path)
		if err != nil {
			return err
		}
		h.Write([]byte(path))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

func (migrator) Migrate(ctx context.Context, _ *sql.DB, conf pgtestdb.Config) error {
	return migrations.Up(ctx, conf.URL(), nil)
}
