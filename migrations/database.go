package migrations

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNoDatabase means the database named in DATABASE_URL does not exist.
var ErrNoDatabase = errors.New("database does not exist")

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
	cfg, err := ConnConfig(databaseURL)
	if err != nil {
		return false, err
	}
	name := cfg.Database
	if name == "" || name == "postgres" {
		return false, nil
	}
	conn, err := connect(ctx, cfg)
	if err == nil {
		conn.Close(ctx)
		return false, nil
	}
	if !errors.Is(err, ErrNoDatabase) {
		return false, err
	}
	var adminCfg *pgx.ConnConfig
	if maintenanceURL == "" {
		adminCfg = cfg.Copy()
		adminCfg.Database = "postgres"
	} else if adminCfg, err = ConnConfig(maintenanceURL); err != nil {
		return false, err
	}
	// Named as the migrate phase's; its database is another, where no
	// replica is looked for, so it takes no lock.
	admin, err := pgx.ConnectConfig(ctx, migratePhaseConfig(adminCfg))
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
	cfg, err := ConnConfig(databaseURL)
	if err != nil {
		return "", err
	}
	return cfg.Database, nil
}

// ConnConfig parses databaseURL, a URL or keyword/value connection string,
// as easel serve's pgxpool does, and returns the settings of one connection:
// without pgxpool's own parameters (pool_max_conns and the other pool_*),
// which a single connection would send to the server as unknown settings
// that it refuses. A pool parameter with a bad value is an error here too.
func ConnConfig(databaseURL string) (*pgx.ConnConfig, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse %w", newDatabaseURLError(err))
	}
	return cfg.ConnConfig, nil
}

// connect connects as cfg says, marked as the migrate phase's
// (migrate_phase.go); its error wraps ErrNoDatabase when the server says
// cfg's database does not exist.
func connect(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, migratePhaseConfig(cfg))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "3D000" { // invalid_catalog_name
		return nil, fmt.Errorf("database %q: %w", cfg.Database, ErrNoDatabase)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to database %q: %w", cfg.Database, err)
	}
	if err := markMigratePhase(ctx, conn); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("mark the session on database %q as migrating: %w", cfg.Database, err)
	}
	return conn, nil
}

// DatabaseURLError is a DATABASE_URL that does not parse, described
// without its value: pgx's error quotes the string, masking a password only
// as well as it can read a string it could not parse, and the error it
// wraps may quote a piece of it (the part of a URL after an unescaped '@'
// in a password). Only pgx's own words are kept.
type DatabaseURLError struct {
	Reason string
}

func (e *DatabaseURLError) Error() string {
	return "DATABASE_URL: not a Postgres URL (postgres://user:password@host:5432/easel) or keyword/value string: " +
		e.Reason + " (the value is not shown: it may hold a password)"
}

func newDatabaseURLError(err error) *DatabaseURLError {
	reason := "it cannot be parsed"
	var parseErr *pgconn.ParseConfigError
	if errors.As(err, &parseErr) {
		// Error is "cannot parse `<masked>`: <msg> (<wrapped error>)":
		// without the string, and without the wrapped error, only msg,
		// which pgx writes itself.
		masked := *parseErr
		masked.ConnString = ""
		reason = strings.TrimPrefix(masked.Error(), "cannot parse ``: ")
		if inner := parseErr.Unwrap(); inner != nil {
			reason = strings.TrimSuffix(reason, " ("+inner.Error()+")")
		}
		if reason == "failed to parse as URL" {
			// The usual cause, which the dropped error would have hinted at.
			reason += "; percent-encode any of @ : / ? # [ ] % and spaces in the user name and password"
		}
	}
	return &DatabaseURLError{Reason: reason}
}
