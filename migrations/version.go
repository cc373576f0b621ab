package migrations

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

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
