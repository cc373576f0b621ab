package migrations

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ErrDirty means a migration failed or was interrupted before its outcome
// was recorded, which leaves the schema's version dirty: golang-migrate
// runs no migration until the version is forced.
var ErrDirty = errors.New("dirty schema version")

// DirtyError explains a dirty schema version and names the commands that
// record the schema's actual version; it wraps ErrDirty. ExplainDirty says
// more, from what the database shows.
//
// golang-migrate records the version a migration leads to dirty before it
// runs it, and clean after: version after an up migration to it, version
// after a down migration from version+1. Each of Easel's migrations is one
// multi-statement query, which Postgres runs as one transaction (none of
// them begins or commits one itself), and Up and Down record a migration's
// version clean in that transaction, and the version from before it when
// Postgres fails it. So a dirty version means that a migrating process lost
// its connection, or was killed, while its migration ran, or that an older
// easel's migration failed; its backend may have run on to commit it, or
// still run it.
func DirtyError(version uint) error { return embedded.dirtyError(version) }

func (s migrator) dirtyError(version uint) error {
	latest, _ := latestOf(s.files) // read before any migration ran
	var cases []string
	if version >= 1 {
		cases = append(cases, fmt.Sprintf("if %s (easel migrate up, easel serve) did not commit, run `easel migrate force %d`", s.file(version, "up"), version-1))
	}
	if version < latest {
		cases = append(cases, fmt.Sprintf("if %s (easel migrate down) did not commit, run `easel migrate force %d`", s.file(version+1, "down"), version+1))
	}
	cases = append(cases, fmt.Sprintf("if the failed migration committed, run `easel migrate force %d`", version))
	check := "looking for what its file creates, alters or drops (psql's \\d)"
	if version >= compatibilityVersion {
		check += ", or reading SELECT schema_version FROM " + compatibilityTable + ", which each migration sets in its own transaction"
	}
	advice := strings.Join(cases, "; ")
	advice = strings.ToUpper(advice[:1]) + advice[1:]
	return fmt.Errorf("%w %d: %s, and no migration runs until the version is forced. "+
		"Each migration runs in one transaction, so its changes are all there or none are: find out whether it committed by %s. %s. "+
		"Then fix what made it fail, if anything, and run the command again", ErrDirty, version, dirtyCause, check, advice)
}

const dirtyCause = "a migration to or from this version failed or was interrupted before its outcome was recorded"

// compatibilityVersion is the migration that creates compatibilityTable.
const compatibilityVersion = 24

func (s migrator) file(version uint, direction string) string {
	name := strings.TrimPrefix(migrationFileIn(s.files, version, direction), "migration ")
	if !strings.HasSuffix(name, ".sql") { // a newer easel's
		return fmt.Sprintf("the %s migration of version %d", direction, version)
	}
	return name
}

// ExplainDirty is DirtyError for the database at databaseURL, dirty at
// version, told by what the database shows: a migration still running
// there (its process may have been killed, its backend runs on), or the
// version the schema is at, which each migration from 000024 on records in
// easel_schema_compatibility in its own transaction. It changes nothing,
// and falls back on DirtyError when it cannot tell.
func ExplainDirty(ctx context.Context, databaseURL string, version uint) error {
	cfg, err := ConnConfig(databaseURL)
	if err != nil {
		return DirtyError(version)
	}
	return embedded.explainDirty(ctx, cfg, version)
}

func (s migrator) explainDirty(ctx context.Context, cfg *pgx.ConnConfig, version uint) error {
	conn, err := connect(ctx, cfg)
	if err != nil {
		return s.dirtyError(version)
	}
	defer conn.Close(ctx)
	if running, err := runningMigration(ctx, conn); err == nil && running != nil {
		return fmt.Errorf("%w %d: a migration is still running in %s; wait for it to finish, then check the schema with easel migrate version",
			ErrDirty, version, running)
	}
	c, err := readCompatibility(ctx, conn)
	if err != nil {
		return s.dirtyError(version)
	}
	latest, _ := latestOf(s.files)
	var at uint // the version the schema is at
	var finding string
	switch {
	case !c.found && version == compatibilityVersion:
		return fmt.Errorf("%w %d: %s, and no migration runs until the version is forced. %s creates %s, which does not exist: it did not commit, and changed nothing. "+
			"Run `easel migrate force %d`, then fix what made it fail, if anything, and run the command again",
			ErrDirty, version, dirtyCause, s.file(version, "up"), compatibilityTable, version-1)
	case !c.found:
		return s.dirtyError(version)
	case c.schemaVersion == version:
		at, finding = version, fmt.Sprintf("the schema is at version %d: the migration that led to it committed", version)
	case c.schemaVersion+1 == version:
		at, finding = version-1, fmt.Sprintf("%s did not commit, and changed nothing", s.file(version, "up"))
	case c.schemaVersion == version+1:
		at, finding = version+1, fmt.Sprintf("%s did not commit, and changed nothing", s.file(version+1, "down"))
	default:
		return s.dirtyError(version)
	}
	force := fmt.Sprintf("run `easel migrate force %d`", at)
	if at > latest {
		force += fmt.Sprintf(" with an easel whose migrations reach version %d", at)
	}
	return fmt.Errorf("%w %d: %s, and no migration runs until the version is forced. "+
		"%s, which each migration from %d on sets in its own transaction, records version %d, so %s: %s, then fix what made it fail, if anything, and run the command again",
		ErrDirty, version, dirtyCause, compatibilityTable, compatibilityVersion, c.schemaVersion, finding, force)
}

// runningMigration is the backend, other than conn's, that holds
// golang-migrate's lock for the schema_migrations of conn's current schema:
// one migrating it, or nil.
func runningMigration(ctx context.Context, conn *pgx.Conn) (*backend, error) {
	var database string
	var schema *string
	if err := conn.QueryRow(ctx, `SELECT current_database(), current_schema()`).Scan(&database, &schema); err != nil || schema == nil {
		return nil, err
	}
	return migrationLockHolder(ctx, conn, migrationLockID(database, *schema))
}
