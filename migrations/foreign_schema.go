package migrations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
)

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
