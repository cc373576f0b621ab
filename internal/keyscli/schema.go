package keyscli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/easelhq/easel/migrations"
)

// checkSchema makes sure the keys commands find Easel's schema at this
// binary's version. It never creates a database, so that a mistyped
// DATABASE_URL fails instead of answering from a new, empty one, and never
// migrates a database that has a schema, which is the operator's call (easel
// migrate up) and not a side effect of managing keys. Only create, when
// migrateFresh, applies the schema to a database that has none: on a fresh
// Docker install the Postgres image has created the database, and the first
// key comes before the first easel serve. A schema newer than this binary is
// used only when it is compatible with it, as easel serve does
// (migrations.CheckNewer).
func checkSchema(ctx context.Context, databaseURL string, migrateFresh bool, logger *slog.Logger) error {
	name, err := migrations.DatabaseName(databaseURL)
	if err != nil {
		return err
	}
	version, dirty, err := migrations.CurrentVersion(ctx, databaseURL)
	if errors.Is(err, migrations.ErrNoDatabase) {
		return fmt.Errorf("database %q does not exist: check DATABASE_URL, or create and migrate it first with easel migrate up (or easel serve)", name)
	}
	if err != nil {
		return err
	}
	latest, err := migrations.Latest()
	if err != nil {
		return err
	}
	switch {
	case dirty:
		return fmt.Errorf("database %q: schema version %d is dirty: a migration failed, was interrupted or is running (see easel migrate version)", name, version)
	case version == latest:
		return nil
	case version > latest:
		if err := migrations.CheckNewer(ctx, databaseURL, version, logger); err != nil {
			return fmt.Errorf("database %q: %w", name, err)
		}
		return nil
	case version == 0 && migrateFresh:
		logger.Info("database has no Easel schema yet; migrating it before creating the first key", "database", name)
		if err := migrations.Up(ctx, databaseURL, logger); err != nil {
			return err
		}
		logger.Info("migrated database", "database", name, "version", latest)
		return nil
	case version == 0:
		return fmt.Errorf("database %q has no Easel schema: check DATABASE_URL, or migrate it first with easel migrate up (or easel serve)", name)
	default:
		return fmt.Errorf("database %q is at schema version %d, older than this binary's %d: run easel migrate up first (easel keys does not migrate a database in use)", name, version, latest)
	}
}
