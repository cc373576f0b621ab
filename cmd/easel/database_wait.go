package main

import (
	"context"
	"log/slog"

	"github.com/easelhq/easel/internal/dbwait"
	"github.com/easelhq/easel/migrations"
)

// awaitDatabase is the wait of easel keys and easel migrate for
// databaseURL's Postgres, easel serve's at start (internal/dbwait): a
// `docker compose run` started with Postgres, or a migration Job started
// while Postgres restarts, waits instead of exiting at once. It returns nil
// once the server answers, even with an error waiting cannot mend (a wrong
// password, a database that does not exist): the command meets it next and
// reports it in its own words.
func awaitDatabase(ctx context.Context, w dbwait.Wait, databaseURL string, logger *slog.Logger) error {
	cfg, err := migrations.ConnConfig(databaseURL)
	if err != nil {
		return err
	}
	connect := dbwait.Connect(cfg)
	answered := func(ctx context.Context) error {
		if err := connect(ctx); err != nil && dbwait.Transient(err) {
			return err
		}
		return nil
	}
	return w.For(ctx, answered, logger)
}
