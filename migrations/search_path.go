package migrations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

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
