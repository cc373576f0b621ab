package migrations

import (
	"context"
	"io/fs"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// ConnectMigrating opens a connection as this package opens each of its
// own, in the migrate phase of a process whose DATABASE_URL is databaseURL:
// another replica, starting, that has not taken golang-migrate's lock yet.
func ConnectMigrating(ctx context.Context, databaseURL string) (*pgx.Conn, error) {
	cfg, err := ConnConfig(databaseURL)
	if err != nil {
		return nil, err
	}
	return connect(ctx, cfg)
}

// EnsureDatabaseVia exposes ensureDatabase, whose maintenance connection
// tests redirect.
var EnsureDatabaseVia = ensureDatabase

// Migrator is a migrator of Files with the session settings a test
// chooses; DefaultMigrator gives Up's.
type Migrator struct {
	Files               fs.FS
	LockTimeout         time.Duration
	Attempts            int
	Backoff             time.Duration
	ClientCheckInterval time.Duration
}

// DefaultMigrator is Up's migrator, of files.
func DefaultMigrator(files fs.FS) Migrator {
	return Migrator{Files: files, LockTimeout: embedded.lockTimeout, Attempts: embedded.attempts, Backoff: embedded.backoff, ClientCheckInterval: embedded.clientCheckInterval}
}

func (m Migrator) migrator() migrator {
	return migrator{files: m.Files, lockTimeout: m.LockTimeout, attempts: m.Attempts, backoff: m.Backoff, clientCheckInterval: m.ClientCheckInterval}
}

func (m Migrator) Up(ctx context.Context, databaseURL string, logger *slog.Logger) error {
	return m.migrator().up(ctx, databaseURL, logger)
}

func (m Migrator) ExplainDirty(ctx context.Context, databaseURL string, version uint) error {
	cfg, err := ConnConfig(databaseURL)
	if err != nil {
		return err
	}
	return m.migrator().explainDirty(ctx, cfg, version)
}
