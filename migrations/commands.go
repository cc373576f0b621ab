package migrations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	"github.com/jackc/pgx/v5"
)

// Up applies every pending migration. It is safe to call from several
// processes at once: golang-migrate holds an advisory lock while migrating.
//
// Easel needs a database or a schema of its own: golang-migrate keeps its
// version in a table named schema_migrations, the name an application's
// own golang-migrate uses too, and River's tables (river_job and the
// rest) are created and used under their unqualified names, where an
// application's own River would find them, or they its. In a database an
// application shares, migrate Easel into a schema of its own by adding
// search_path=easel to databaseURL (and to easel serve's DATABASE_URL),
// and let the application's pool keep its own search_path: jobs.Enqueue
// then takes EnqueueOpts.Schema.
//
// Before it changes anything, Up refuses a database where River is already
// installed outside Easel's schema (see ErrRiverInstalled) or whose
// schema_migrations records another application's version (see
// ErrForeignMigrations), and creates the schema named first in the
// connection's search_path when it does not exist yet, so that
// search_path=easel in DATABASE_URL is all it takes to give Easel a schema
// of its own.
//
// A clean schema newer than this binary's newest migration is one an older
// binary meets during a rolling deploy or after a rollback. Up then
// migrates nothing, and returns nil after logging a warning when the
// schema's easel_schema_compatibility row says this binary still runs
// correctly on it (see the package doc); otherwise it returns an error
// wrapping ErrSchemaNewer that says why, and how to roll back. A dirty
// newer schema is refused.
//
// Up migrates on a session of its own, whose lock_timeout is 5 seconds:
// a migration refused a lock (a long query on its table) is rolled back
// and run again after a pause, 5 times in all, each retry logged with the
// lock it waited for and the backend holding it. A migration that fails
// with an error from Postgres was rolled back: Up records the version from
// before it, clean, and returns the error; the next Up runs it again. Only
// one whose connection was lost leaves the version dirty (see DirtyError).
// While another process migrates, Up waits for it as long as ctx allows.
//
// Replicas older than a migration that breaks them must be stopped before
// it runs (see the package doc). When such a migration is pending, Up
// refuses, applying none, while other Easel sessions are connected to the
// database: its error wraps ErrRunningReplicas and lists them. Sessions
// of this package, every other Up's included (another replica starting),
// are not counted, whatever DATABASE_URL names them: each holds a lock
// saying it is migrating (migrate_phase.go), and is named "easel migrate",
// or "easel migrate (easel-api-1)" when DATABASE_URL names its connections
// easel-api-1. Nor are those holding or waiting for golang-migrate's lock.
// AllowRunningReplicas lifts the refusal, for replicas that are new
// binaries already.
func Up(ctx context.Context, databaseURL string, logger *slog.Logger, opts ...UpOption) error {
	return embedded.up(ctx, databaseURL, logger, opts...)
}

func (s migrator) up(ctx context.Context, databaseURL string, logger *slog.Logger, opts ...UpOption) error {
	var o upOptions
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := ConnConfig(databaseURL)
	if err != nil {
		return err
	}
	latest, err := latestOf(s.files)
	if err != nil {
		return err
	}
	newer, err := prepareUp(ctx, cfg, databaseURL, latest, logger)
	if err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	if newer {
		return nil
	}
	if err := s.checkBreaking(ctx, cfg, latest, o, logger); err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	m, err := s.open(ctx, cfg, logger)
	if err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	defer m.Close()
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		var failed *migrationError
		if errors.As(err, &failed) {
			return fmt.Errorf("migrate up: %w", failed)
		}
		var dirtyErr migrate.ErrDirty
		if errors.As(err, &dirtyErr) {
			// golang-migrate's own error names no command: force is easel's.
			version := uint(max(dirtyErr.Version, 0))
			if version > latest {
				return fmt.Errorf("migrate up: %w", schemaNewerError(version, latest, "it is dirty: a newer easel's migration failed or was interrupted"))
			}
			return fmt.Errorf("migrate up: %w", s.explainDirty(ctx, cfg, version))
		}
		// golang-migrate reports a newer schema as a missing file.
		if version, _, verr := m.Version(); verr == nil && version > latest {
			return fmt.Errorf("migrate up: %w", SchemaNewerError(version, latest))
		}
		return fmt.Errorf("migrate up: %w", readable(err, "a migration"))
	}
	return nil
}

// Down reverts the newest steps migrations. Before it changes anything, it
// refuses a dirty schema (see DirtyError), a schema newer than this binary,
// and more steps than the schema's version: golang-migrate would revert
// every migration, and only then fail. It migrates on a session like Up's,
// and a down migration that fails is handled as Up handles an up one.
func Down(ctx context.Context, databaseURL string, logger *slog.Logger, steps int) error {
	return embedded.down(ctx, databaseURL, logger, steps)
}

func (s migrator) down(ctx context.Context, databaseURL string, logger *slog.Logger, steps int) error {
	if steps < 1 {
		return fmt.Errorf("migrate down: steps must be at least 1, got %d", steps)
	}
	cfg, err := ConnConfig(databaseURL)
	if err != nil {
		return err
	}
	version, dirty, _, err := schemaToChange(ctx, cfg)
	if err != nil {
		return fmt.Errorf("migrate down %d: %w", steps, err)
	}
	latest, err := latestOf(s.files)
	if err != nil {
		return err
	}
	switch {
	case dirty:
		return fmt.Errorf("migrate down %d: %w", steps, s.explainDirty(ctx, cfg, version))
	case version > latest:
		return fmt.Errorf("migrate down %d: %w", steps, SchemaNewerError(version, latest))
	case version == 0:
		return fmt.Errorf("migrate down %d: the schema is at version 0: there is no migration to revert; nothing was changed", steps)
	case uint(steps) > version:
		return fmt.Errorf("migrate down %d: the schema is at version %d, so at most %d migrations can be reverted (easel migrate down %d reverts them all); nothing was changed",
			steps, version, version, version)
	}
	m, err := s.open(ctx, cfg, logger)
	if err != nil {
		return fmt.Errorf("migrate down %d: %w", steps, err)
	}
	defer m.Close()
	// To the version asked for rather than steps back from whatever
	// golang-migrate finds once it holds its lock, so that a concurrent
	// migrate down cannot take the schema below it.
	if target := version - uint(steps); target == 0 {
		err = m.Down()
	} else {
		err = m.Migrate(target)
	}
	if err != nil && !errors.Is(err, migrate.ErrNoChange) {
		var failed *migrationError
		if errors.As(err, &failed) {
			return fmt.Errorf("migrate down %d: %w", steps, failed)
		}
		var dirtyErr migrate.ErrDirty
		if errors.As(err, &dirtyErr) { // made dirty since it was read
			return fmt.Errorf("migrate down %d: %w", steps, s.explainDirty(ctx, cfg, uint(max(dirtyErr.Version, 0))))
		}
		return fmt.Errorf("migrate down %d: %w", steps, readable(err, "a down migration"))
	}
	return nil
}

// Force records version as the schema's version, clean, and runs no
// migration: once a dirty schema has been checked, or fixed by hand, it
// tells golang-migrate which version the schema is at (see DirtyError).
// Version 0 records that no migration is applied. Before it changes
// anything, it refuses a version this binary has no migration for, a
// schema newer than this binary, and a database without Easel's
// schema_migrations table, which it would otherwise create.
func Force(ctx context.Context, databaseURL string, logger *slog.Logger, version uint) error {
	latest, err := Latest()
	if err != nil {
		return err
	}
	if version > latest {
		return fmt.Errorf("migrate force %d: this binary's migrations go up to version %d; nothing was changed", version, latest)
	}
	cfg, err := ConnConfig(databaseURL)
	if err != nil {
		return err
	}
	current, _, hasTable, err := schemaToChange(ctx, cfg)
	if err != nil {
		return fmt.Errorf("migrate force %d: %w", version, err)
	}
	switch {
	case !hasTable:
		return fmt.Errorf("migrate force %d: database %q has no schema_migrations table in its current schema, so no Easel schema whose version to force; easel migrate up creates one", version, cfg.Database)
	case current > latest:
		return fmt.Errorf("migrate force %d: %w", version, SchemaNewerError(current, latest))
	}
	m, err := embedded.open(ctx, cfg, logger)
	if err != nil {
		return fmt.Errorf("migrate force %d: %w", version, err)
	}
	defer m.Close()
	v := int(version)
	if version == 0 {
		v = database.NilVersion
	}
	if err := m.Force(v); err != nil {
		return fmt.Errorf("migrate force %d: %w", version, err)
	}
	return nil
}

// schemaToChange reads the schema version Down or Force is about to change,
// and whether golang-migrate's schema_migrations table exists, creating
// nothing. It fails when the connection's search_path names no schema that
// exists, for which golang-migrate's driver has only a cryptic error.
func schemaToChange(ctx context.Context, cfg *pgx.ConnConfig) (version uint, dirty, hasTable bool, err error) {
	conn, err := connect(ctx, cfg)
	if err != nil {
		return 0, false, false, err
	}
	defer conn.Close(ctx)
	var searchPath string
	var current *string
	err = conn.QueryRow(ctx, `SELECT current_setting('search_path'), current_schema(),
		coalesce(to_regclass(quote_ident(current_schema()) || '.schema_migrations') IS NOT NULL, false)`).Scan(&searchPath, &current, &hasTable)
	if err != nil {
		return 0, false, false, fmt.Errorf("read search_path: %w", err)
	}
	if current == nil {
		return 0, false, false, fmt.Errorf("search_path '%s' of database %q names no schema that exists, so there is no Easel schema to migrate", searchPath, cfg.Database)
	}
	version, dirty, err = readVersion(ctx, conn)
	return version, dirty, hasTable, err
}
