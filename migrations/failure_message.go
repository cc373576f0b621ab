package migrations

import (
	"errors"
	"fmt"
	"strings"

	"github.com/golang-migrate/migrate/v4/database"
	"github.com/jackc/pgx/v5/pgconn"
)

// readable shortens golang-migrate's error for a failed migration, which
// holds the whole file, to the file's name, where in it Postgres failed and
// that line, and Postgres's error, which it wraps.
func readable(err error, file string) error {
	dbErr, ok := migrateError(err)
	if !ok {
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

// migrateError finds golang-migrate's database.Error in err, which its
// drivers return as a value or a pointer.
func migrateError(err error) (database.Error, bool) {
	var dbErr database.Error
	if errors.As(err, &dbErr) {
		return dbErr, true
	}
	var dbErrPtr *database.Error
	if errors.As(err, &dbErrPtr) && dbErrPtr != nil {
		return *dbErrPtr, true
	}
	return database.Error{}, false
}
