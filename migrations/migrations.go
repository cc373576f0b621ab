// Package migrations owns Easel's whole database schema, River's tables
// included, as golang-migrate SQL files embedded in the binary.
//
// River's migrations are committed as plain SQL (files named river_NNN_*)
// rather than run by rivermigrate, so that one tool and one version number
// describe the schema. river_test.go fails when the pinned River version
// reports SQL that differs from the committed files.
//
// # Compatibility with older binaries
//
// During a rolling deploy, and after a rollback, binaries older than the
// schema run on it: Up lets them when the schema's easel_schema_compatibility
// row (000024) says they still run correctly. So every migration from 000024
// on ends by writing that row, in its own transaction, and its down
// migration writes back the row it found:
//
//	-- up: adds only (a table, a nullable column, a view column at the end, a comment)
//	UPDATE easel_schema_compatibility SET schema_version = 25;
//	-- up: breaks older binaries
//	UPDATE easel_schema_compatibility SET schema_version = 25, oldest_compatible_version = 25;
//	-- down, either way: the row as the previous migration left it
//	UPDATE easel_schema_compatibility SET schema_version = 24, oldest_compatible_version = 21;
//
// A migration breaks older binaries, and sets oldest_compatible_version to
// its own version, when it drops or renames something they use, adds or
// tightens a constraint their writes would violate (NOT NULL on a column
// they leave out, a CHECK, a unique index), or changes what a value means
// to them; otherwise it leaves the value. A release whose migration breaks
// older binaries says so in its notes: their replicas must be stopped
// before it migrates. A migration that does not write the row leaves one
// that names an older version, and older binaries then refuse the schema,
// as all binaries before 000024 refuse any newer one;
// TestEveryMigrationRecordsCompatibility fails on such a migration.
package migrations

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strconv"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed *.sql
var files embed.FS

// FS returns the embedded migration files.
func FS() fs.FS { return files }

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
func Up(ctx context.Context, databaseURL string, logger *slog.Logger) error {
	return embedded.up(ctx, databaseURL, logger)
}

func (s migrator) up(ctx context.Context, databaseURL string, logger *slog.Logger) error {
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

// ErrRiverInstalled means Up found River's tables where Easel has no schema
// yet: an application's own River, installed with rivermigrate. Easel
// creates and migrates River's schema itself, as part of its own, so it
// needs a database or a schema of its own.
var ErrRiverInstalled = errors.New("River is already installed here")

// ErrForeignMigrations means the schema_migrations table where Easel would
// keep its version records another application's golang-migrate version:
// Easel would take it for its own and apply the wrong migrations.
var ErrForeignMigrations = errors.New("schema_migrations belongs to another application")

// prepareUp refuses a schema Easel cannot share, and creates the schema
// Easel is to live in; both before golang-migrate's driver opens, since it
// creates its schema_migrations table as it does. newer is true when the
// schema is clean, newer than latest and compatible with this binary
// (checkNewer): there is nothing to migrate, and checkNewer said so.
func prepareUp(ctx context.Context, cfg *pgx.ConnConfig, databaseURL string, latest uint, logger *slog.Logger) (newer bool, err error) {
	conn, err := connect(ctx, cfg)
	if err != nil {
		return false, err
	}
	defer conn.Close(ctx)

	// The reads are ordered for a concurrent Up, which records version 1,
	// dirty, before its first migration creates river_job, and clean only
	// after: River's tables are looked for before the version is read, so
	// that river_job then version 0 means a River that is not Easel's; and
	// Easel's own river_job is looked for after, so that a clean version 1
	// or more then no river_job means a version that is not Easel's.
	var river string
	err = conn.QueryRow(ctx, `SELECT coalesce((SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = coalesce(to_regclass('river_migration'), to_regclass('river_job'))), '')`).Scan(&river)
	if err != nil {
		return false, fmt.Errorf("look for River's tables in database %q: %w", cfg.Database, err)
	}
	version, dirty, err := readVersion(ctx, conn)
	if err != nil {
		return false, err
	}
	var searchPath, schema string
	var ownRiver bool
	err = conn.QueryRow(ctx, `SELECT current_setting('search_path'), coalesce(current_schema(), ''),
		to_regclass(quote_ident(current_schema()) || '.river_job') IS NOT NULL`).Scan(&searchPath, &schema, &ownRiver)
	if err != nil {
		return false, fmt.Errorf("read search_path of database %q: %w", cfg.Database, err)
	}
	advice := "give Easel a database of its own, or a schema of its own by adding search_path=easel to DATABASE_URL, as in " +
		withSearchPath(databaseURL, "easel") + " (Easel creates that schema; it holds Easel's tables and its River's, and nothing outside it is touched)"
	// Easel never creates river_migration: River's own migrator does.
	foreignRiver := strings.HasSuffix(river, ".river_migration")
	switch {
	case river != "" && version == 0 && !dirty:
		return false, fmt.Errorf("%w: database %q has River's table %s on search_path '%s' and no Easel schema. "+
			"Easel creates and migrates River's tables itself, as part of its own schema, so it cannot share them with another River: %s",
			ErrRiverInstalled, cfg.Database, river, searchPath, advice)
	case foreignRiver && version == 1 && dirty:
		// What an Easel without this check left behind: its first
		// migration failed on River's tables and rolled back.
		return false, fmt.Errorf("%w: database %q has River's table %s on search_path '%s', and an earlier easel's failed first migration left %s at version 1, dirty. "+
			"Easel creates and migrates River's tables itself, as part of its own schema, so it cannot share them with another River: %s; "+
			"that table then holds nothing of use and can be dropped",
			ErrRiverInstalled, cfg.Database, river, searchPath, pgx.Identifier{schema, "schema_migrations"}.Sanitize(), advice)
	case version > 0 && !(version == 1 && dirty) && !ownRiver:
		return false, fmt.Errorf("%w: %s in database %q records version %d, but Easel's tables are not there: another application's golang-migrate keeps its version in that table, "+
			"and Easel would take it for its own; %s",
			ErrForeignMigrations, pgx.Identifier{schema, "schema_migrations"}.Sanitize(), cfg.Database, version, advice)
	}
	if version > latest && !dirty {
		// Easel's own schema (ownRiver), so ensureSchema has nothing to do.
		// A newer binary migrating it further between the two reads leaves
		// a row of another version, which checkNewer refuses: safe, and
		// the next start reads both again.
		if err := checkNewer(ctx, conn, version, latest, logger); err != nil {
			return false, err
		}
		return true, nil
	}
	return false, ensureSchema(ctx, conn, cfg, logger)
}

// withSearchPath is databaseURL, password hidden, with search_path set to
// schema: the DATABASE_URL a message suggests.
func withSearchPath(databaseURL, schema string) string {
	u, err := url.Parse(databaseURL)
	if err != nil || !strings.Contains(databaseURL, "://") {
		// A keyword/value string is not echoed: its password may be quoted.
		return "DATABASE_URL followed by ' search_path=" + schema + "'"
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.Redacted()
}

// ensureSchema creates the schema named first in the connection's
// search_path when it does not exist, and makes sure migrations will land in
// it: Postgres skips a missing schema on the search_path, and would create
// Easel's tables in the next one (or, with none left, nowhere).
func ensureSchema(ctx context.Context, conn *pgx.Conn, cfg *pgx.ConnConfig, logger *slog.Logger) error {
	var searchPath string
	var current *string
	if err := conn.QueryRow(ctx, `SELECT current_setting('search_path'), current_schema()`).Scan(&searchPath, &current); err != nil {
		return fmt.Errorf("read search_path: %w", err)
	}
	first, ok := firstSchema(searchPath)
	if ok && (current == nil || *current != first) {
		var exists bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)`, first).Scan(&exists); err != nil {
			return fmt.Errorf("look for schema %q: %w", first, err)
		}
		if !exists {
			created, err := createSchema(ctx, conn, first)
			if err != nil {
				return err
			}
			if created && logger != nil {
				logger.Info("created schema named by search_path", "database", cfg.Database, "schema", first)
			}
		}
		if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&current); err != nil {
			return fmt.Errorf("read current schema: %w", err)
		}
	}
	switch {
	case current == nil:
		return fmt.Errorf("search_path '%s' of database %q names no schema that exists: set search_path in DATABASE_URL to the schema Easel should use, e.g. search_path=easel", searchPath, cfg.Database)
	case ok && *current != first:
		return fmt.Errorf("schema %q, first on search_path '%s' of database %q, is not usable by role %q: grant it USAGE and CREATE on the schema", first, searchPath, cfg.Database, cfg.User)
	}
	return nil
}

// createSchema creates schema; created is false when a concurrent Up did.
func createSchema(ctx context.Context, conn *pgx.Conn, schema string) (created bool, err error) {
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		var pgErr *pgconn.PgError
		// duplicate_schema when the other CREATE had committed, a unique
		// violation on pg_namespace's name when both inserted at once.
		if errors.As(err, &pgErr) && (pgErr.Code == "42P06" || (pgErr.Code == "23505" && pgErr.ConstraintName == "pg_namespace_nspname_index")) {
			return false, nil
		}
		return false, fmt.Errorf("create schema %q named by search_path: %w", schema, err)
	}
	return true, nil
}

// firstSchema is the schema named first in a search_path setting, as
// Postgres reads it: unquoted names fold to lower case. ok is false when
// there is none, or it is "$user", which Easel leaves to the administrator.
func firstSchema(searchPath string) (name string, ok bool) {
	s := strings.TrimSpace(searchPath)
	if s == "" {
		return "", false
	}
	if s[0] == '"' {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			if s[i] != '"' {
				b.WriteByte(s[i])
				continue
			}
			if i+1 < len(s) && s[i+1] == '"' { // "" is a quote inside quotes
				b.WriteByte('"')
				i++
				continue
			}
			name = b.String()
			return name, name != "" && name != "$user"
		}
		return "", false // unterminated: Postgres would have refused it
	}
	name, _, _ = strings.Cut(s, ",")
	name = strings.ToLower(strings.TrimSpace(name))
	return name, name != "" && name != "$user"
}

// readable shortens golang-migrate's error for a failed migration, which
// holds the whole file, to the file's name, where in it Postgres failed and
// that line, and Postgres's error, which it wraps.
func readable(err error, file string) error {
	var dbErr database.Error
	var dbErrPtr *database.Error
	switch {
	case errors.As(err, &dbErr):
	case errors.As(err, &dbErrPtr) && dbErrPtr != nil:
		dbErr = *dbErrPtr
	default:
		return err
	}
	cause := dbErr.OrigErr
	if cause == nil {
		cause = errors.New(dbErr.Err)
	}
	var pgErr *pgconn.PgError
	if !errors.As(cause, &pgErr) {
		return fmt.Errorf("%s failed: %w", file, cause)
	}
	where := ""
	if line, col, text, ok := locate(string(dbErr.Query), int(pgErr.Position)); ok {
		where = fmt.Sprintf(" at line %d, column %d (%s)", line, col, text)
	}
	if pgErr.Detail != "" {
		return fmt.Errorf("%s failed%s: %w; %s", file, where, cause, pgErr.Detail)
	}
	return fmt.Errorf("%s failed%s: %w", file, where, cause)
}

// locate finds Postgres's error position, a 1-based count of characters,
// in query: its line and column, and that line, trimmed and shortened.
func locate(query string, position int) (line, col int, text string, ok bool) {
	if position < 1 {
		return 0, 0, "", false
	}
	runes := []rune(query)
	if position > len(runes) {
		return 0, 0, "", false
	}
	line, start := 1, 0
	for i, r := range runes[:position-1] {
		if r == '\n' {
			line, start = line+1, i+1
		}
	}
	end := start
	for end < len(runes) && runes[end] != '\n' {
		end++
	}
	text = strings.TrimSpace(string(runes[start:end]))
	if t := []rune(text); len(t) > 100 {
		text = string(t[:100]) + "…"
	}
	return line, position - start, text, true
}

// migrationFileIn names the file of fsys of version in direction ("up" or
// "down"), or describes it when there is none.
func migrationFileIn(fsys fs.FS, version uint, direction string) string {
	entries, err := fs.ReadDir(fsys, ".")
	if err == nil {
		for _, e := range entries {
			prefix, _, _ := strings.Cut(e.Name(), "_")
			if v, err := strconv.ParseUint(prefix, 10, 64); err == nil && uint(v) == version && strings.HasSuffix(e.Name(), "."+direction+".sql") {
				return "migration " + e.Name()
			}
		}
	}
	return fmt.Sprintf("migration %d %s", version, direction)
}

// SchemaNewerError explains that the database's schema, at version, is newer
// than latest, this binary's newest migration, and how to roll back to this
// binary; it wraps ErrSchemaNewer.
func SchemaNewerError(version, latest uint) error {
	return schemaNewerError(version, latest, "")
}

// schemaNewerError is SchemaNewerError saying why, when why is not empty,
// this binary may not run on the schema. Only the newer binary has the down
// migrations from version to latest.
func schemaNewerError(version, latest uint, why string) error {
	if why != "" {
		why = "; " + why
	}
	return fmt.Errorf("%w: the database is at schema version %d, this binary knows versions up to %d%s. "+
		"Run the easel that migrated it, or a newer one; or, to roll back to this binary, stop the newer easel processes and run `easel migrate down %d` with the newer easel first",
		ErrSchemaNewer, version, latest, why, version-latest)
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

// Latest is the version of the newest embedded migration.
func Latest() (uint, error) { return latestOf(files) }

// latestOf is the version of the newest migration in fsys.
func latestOf(fsys fs.FS) (uint, error) {
	src, err := iofs.New(fsys, ".")
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
	admin, err := pgx.ConnectConfig(ctx, adminCfg)
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
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	return cfg.ConnConfig, nil
}

// connect connects as cfg says; its error wraps ErrNoDatabase when the
// server says cfg's database does not exist.
func connect(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "3D000" { // invalid_catalog_name
		return nil, fmt.Errorf("database %q: %w", cfg.Database, ErrNoDatabase)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to database %q: %w", cfg.Database, err)
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
	cfg, err := ConnConfig(databaseURL)
	if err != nil {
		return 0, false, err
	}
	conn, err := connect(ctx, cfg)
	if err != nil {
		return 0, false, err
	}
	defer conn.Close(ctx)
	return readVersion(ctx, conn)
}

// readVersion reads golang-migrate's record of the schema version on conn.
func readVersion(ctx context.Context, conn *pgx.Conn) (version uint, dirty bool, err error) {
	name := conn.Config().Database
	// golang-migrate keeps its table in the connection's current schema,
	// the first on search_path that exists, and only there: another
	// schema_migrations further along the path is someone else's. No
	// current schema means none.
	var schema *string
	if err := conn.QueryRow(ctx, `SELECT current_schema() FROM (SELECT) s WHERE to_regclass(quote_ident(current_schema()) || '.schema_migrations') IS NOT NULL`).Scan(&schema); errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	} else if err != nil {
		return 0, false, fmt.Errorf("look for schema_migrations in database %q: %w", name, err)
	}
	var v int64
	err = conn.QueryRow(ctx, `SELECT version, dirty FROM `+pgx.Identifier{*schema, "schema_migrations"}.Sanitize()+` LIMIT 1`).Scan(&v, &dirty)
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

type migrateLogger struct{ logger *slog.Logger }

func (l migrateLogger) Printf(format string, v ...any) {
	l.logger.Info(strings.TrimSpace(fmt.Sprintf(format, v...)))
}

func (l migrateLogger) Verbose() bool { return false }
