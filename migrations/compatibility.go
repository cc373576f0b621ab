package migrations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
)

// compatibilityTable is where a schema records which binaries run on it
// (migration 000024; the package doc gives the rule migrations follow).
const compatibilityTable = "easel_schema_compatibility"

// compatibility is the row of easel_schema_compatibility; found is false
// when the table or its row is missing.
type compatibility struct {
	found            bool
	schemaVersion    uint
	oldestCompatible uint
}

// readCompatibility reads easel_schema_compatibility in the connection's
// current schema, where golang-migrate keeps schema_migrations, and only
// there.
func readCompatibility(ctx context.Context, conn *pgx.Conn) (compatibility, error) {
	name := conn.Config().Database
	var schema *string
	err := conn.QueryRow(ctx, `SELECT current_schema() FROM (SELECT) s WHERE to_regclass(quote_ident(current_schema()) || '.`+compatibilityTable+`') IS NOT NULL`).Scan(&schema)
	if errors.Is(err, pgx.ErrNoRows) {
		return compatibility{}, nil
	}
	if err != nil {
		return compatibility{}, fmt.Errorf("look for %s in database %q: %w", compatibilityTable, name, err)
	}
	var version, oldest int64
	err = conn.QueryRow(ctx, `SELECT schema_version, oldest_compatible_version FROM `+pgx.Identifier{*schema, compatibilityTable}.Sanitize()).Scan(&version, &oldest)
	if errors.Is(err, pgx.ErrNoRows) {
		return compatibility{}, nil
	}
	if err != nil {
		return compatibility{}, fmt.Errorf("read %s of database %q: %w", compatibilityTable, name, err)
	}
	// The table's CHECK keeps both at 1 or more.
	return compatibility{found: true, schemaVersion: uint(max(version, 0)), oldestCompatible: uint(max(oldest, 0))}, nil
}

// checkNewer decides whether a binary whose newest migration is latest runs,
// without migrating, on the clean schema on conn at version, newer than
// latest. It logs a warning and returns nil when the schema says so, and
// otherwise returns an error wrapping ErrSchemaNewer that says why.
//
// A row written by another migration than version vouches for nothing: the
// migrations after it did not record whether they break older binaries
// (none does from 000024 on, TestEveryMigrationRecordsCompatibility sees
// to it), or the version was set by hand.
func checkNewer(ctx context.Context, conn *pgx.Conn, version, latest uint, logger *slog.Logger) error {
	c, err := readCompatibility(ctx, conn)
	if err != nil {
		return err
	}
	switch {
	case !c.found:
		return schemaNewerError(version, latest, "it records no oldest compatible version (no "+compatibilityTable+" row), so it counts as incompatible")
	case c.schemaVersion != version:
		return schemaNewerError(version, latest, fmt.Sprintf("its %s row was written by migration %d, not %d, so it says nothing of which binaries the schema is compatible with",
			compatibilityTable, c.schemaVersion, version))
	case c.oldestCompatible > latest:
		return schemaNewerError(version, latest, fmt.Sprintf("its oldest compatible version is %d: a migration after %d changed what older binaries rely on",
			c.oldestCompatible, latest))
	}
	if logger != nil {
		logger.Warn(fmt.Sprintf("schema version %d is newer than this binary's %d, and compatible with it: running without migrating; upgrade this binary", version, latest),
			"database", conn.Config().Database, "schema_version", version, "binary_schema_version", latest, "oldest_compatible_version", c.oldestCompatible)
	}
	return nil
}

// CheckNewer is Up's check of a newer schema for commands that use the
// schema without migrating it (easel keys): version is the schema's clean
// version, as CurrentVersion read it, newer than Latest. It logs a warning
// and returns nil when the schema records that this binary runs correctly
// on it, and otherwise returns an error wrapping ErrSchemaNewer that says
// why and how to roll back. It changes nothing.
func CheckNewer(ctx context.Context, databaseURL string, version uint, logger *slog.Logger) error {
	latest, err := Latest()
	if err != nil {
		return err
	}
	cfg, err := ConnConfig(databaseURL)
	if err != nil {
		return err
	}
	conn, err := connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return checkNewer(ctx, conn, version, latest, logger)
}
