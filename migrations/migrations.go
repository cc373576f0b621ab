// Package migrations owns Easel's whole database schema, River's tables
// included, as golang-migrate SQL files embedded in the binary.
//
// River's migrations are committed as plain SQL (files named river_NNN_*)
// rather than run by rivermigrate, so that one tool and one version number
// describe the schema. river_test.go fails when the pinned River version
// reports SQL that differs from the committed files.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

//go:embed *.sql
var files embed.FS

// FS returns the embedded migration files.
func FS() fs.FS { return files }

// Up applies every pending migration. It is safe to call from several
// processes at once: golang-migrate holds an advisory lock while migrating.
func Up(ctx context.Context, databaseURL string, logger *slog.Logger) error {
	m, err := newMigrate(databaseURL, logger)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		// golang-migrate reports a newer schema as a missing file.
		if version, _, verr := m.Version(); verr == nil {
			if latest, lerr := Latest(); lerr == nil && version > latest {
				return fmt.Errorf("migrate up: %w", SchemaNewerError(version, latest))
			}
		}
		return fmt.Errorf("migrate up: %w", err)
	}
	return nil
}

// SchemaNewerError explains that the database's schema, at version, is newer
// than latest, this binary's newest migration; it wraps ErrSchemaNewer.
func SchemaNewerError(version, latest uint) error {
	return fmt.Errorf("%w: the database is at schema version %d, this binary knows versions up to %d; run the easel that migrated it, or a newer one", ErrSchemaNewer, version, latest)
}

// Down reverts the newest steps migrations.
func Down(ctx context.Context, databaseURL string, logger *slog.Logger, steps int) error {
	if steps < 1 {
		return fmt.Errorf("migrate down: steps must be at least 1, got %d", steps)
	}
	m, err := newMigrate(databaseURL, logger)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := m.Steps(-steps); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrate down %d: %w", steps, err)
	}
	return nil
}

// Latest is the version of the newest embedded migration.
func Latest() (uint, error) {
	src, err := iofs.New(files, ".")
	if err != nil {
		return 0, fmt.Errorf("read embedded migrations: %w", err)
	}
	defer src.Close()
	v, err := src.First()
	if err != nil {
		return 0, fmt.Errorf("read embedded migrations: %w", err)
	}
	for {
		next, err := src.Next(v)
		if errors.Is(err, fs.ErrNotExist) {
			return v, nil
		}
		if err != nil {
			return 0, fmt.Errorf("read embedded migrations: %w", err)
		}
		v = next
	}
}

// ErrNoDatabase means the database named in DATABASE_URL does not exist.
var ErrNoDatabase = errors.New("database does not exist")

// ErrSchemaNewer means the database's schema is newer than this binary's
// newest migration: a newer Easel migrated it, and this one may not
// understand it.
var ErrSchemaNewer = errors.New("schema is newer than this easel binary")

// EnsureDatabase creates the database named in databaseURL if it does not
// exist yet. It connects to that database first, and connects to the
// server's "postgres" maintenance database, to create it, only when the
// server says it does not exist: a role allowed only on its own database can
// still start, and an existing database is never touched.
func EnsureDatabase(ctx context.Context, databaseURL string) (created bool, err error) {
	return ensureDatabase(ctx, databaseURL, "")
}

// ensureDatabase is EnsureDatabase creating a missing database through
// maintenanceURL, or, when it is empty, through databaseURL's server's
// "postgres" database. Tests point maintenanceURL somewhere unreachable to
// show that an existing database needs no maintenance connection.
func ensureDatabase(ctx context.Context, databaseURL, maintenanceURL string) (created bool, err error) {
	name, err := DatabaseName(databaseURL)
	if err != nil {
		return false, err
	}
	if name == "" || name == "postgres" {
		return false, nil
	}
	conn, err := connect(ctx, databaseURL, name)
	if err == nil {
		conn.Close(ctx)
		return false, nil
	}
	if !errors.Is(err, ErrNoDatabase) {
		return false, err
	}
	if maintenanceURL == "" {
		if maintenanceURL, err = withDatabase(databaseURL, "postgres"); err != nil {
			return false, err
		}
	}
	admin, err := pgx.Connect(ctx, maintenanceURL)
	if err != nil {
		return false, fmt.Errorf("database %q does not exist; connect to the postgres database to create it: %w", name, err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		var pgErr *pgconn.PgError
		// Another process won the race: duplicate_database when its CREATE
		// had committed, a unique violation on pg_database's name when
		// both inserted the catalog row at once.
		if errors.As(err, &pgErr) && (pgErr.Code == "42P04" || (pgErr.Code == "23505" && pgErr.ConstraintName == "pg_database_datname_index")) {
			return false, nil
		}
		return false, fmt.Errorf("create database %q: %w", name, err)
	}
	return true, nil
}

// DatabaseName is the database databaseURL names; empty means the server's
// default, the user's name.
func DatabaseName(databaseURL string) (string, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return "", fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	return cfg.Database, nil
}

// connect connects to databaseURL, whose database is name; its error wraps
// ErrNoDatabase when the server says that database does not exist.
func connect(ctx context.Context, databaseURL, name string) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, databaseURL)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "3D000" { // invalid_catalog_name
		return nil, fmt.Errorf("database %q: %w", name, ErrNoDatabase)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to database %q: %w", name, err)
	}
	return conn, nil
}

// CurrentVersion reports the schema version and whether a failed migration
// left it dirty, as Version does, but changes nothing: Version's
// golang-migrate driver creates its schema_migrations table when it is
// missing, and commands that only check the schema must leave a database
// that is not Easel's as they found it. Version 0 means no Easel schema. When
// the database does not exist, the error wraps ErrNoDatabase.
func CurrentVersion(ctx context.Context, databaseURL string) (version uint, dirty bool, err error) {
	name, err := DatabaseName(databaseURL)
	if err != nil {
		return 0, false, err
	}
	conn, err := connect(ctx, databaseURL, name)
	if err != nil {
		return 0, false, err
	}
	defer conn.Close(ctx)
	// golang-migrate's table lives in the connection's current schema, which
	// to_regclass searches too.
	var hasTable bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&hasTable); err != nil {
		return 0, false, fmt.Errorf("look for schema_migrations in database %q: %w", name, err)
	}
	if !hasTable {
		return 0, false, nil
	}
	var v int64
	err = conn.QueryRow(ctx, `SELECT version, dirty FROM schema_migrations LIMIT 1`).Scan(&v, &dirty)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read schema version of database %q: %w", name, err)
	}
	if v < 0 { // golang-migrate's "no version", recorded when a first migration failed
		return 0, dirty, nil
	}
	return uint(v), dirty, nil
}

// withDatabase swaps the database of a URL or keyword/value connection string.
func withDatabase(databaseURL, name string) (string, error) {
	if !strings.Contains(databaseURL, "://") {
		return databaseURL + " dbname=" + name, nil
	}
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "", fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// newMigrate opens its own connection; Close on the result releases it.
func newMigrate(databaseURL string, logger *slog.Logger) (*migrate.Migrate, error) {
	src, err := iofs.New(files, ".")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	driver, err := migratepgx.WithInstance(db, &migratepgx.Config{})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("connect for migrations: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", driver)
	if err != nil {
		return nil, fmt.Errorf("prepare migrations: %w", err)
	}
	if logger != nil {
		m.Log = migrateLogger{logger}
	}
	return m, nil
}

type migrateLogger struct{ logger *slog.Logger }

func (l migrateLogger) Printf(format string, v ...any) {
	l.logger.Info(strings.TrimSpace(fmt.Sprintf(format, v...)))
}

func (l migrateLogger) Verbose() bool { return false }
