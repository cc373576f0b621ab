package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"

	"github.com/easelhq/easel/internal/serve"
	"github.com/easelhq/easel/migrations"
)

func migrateCmd(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: easel migrate up | down [N] | version", errUsage)
	}
	databaseURL := os.Getenv("DATABASE_URL")
	if databaseURL == "" {
		databaseURL = serve.DefaultDatabaseURL
	}
	switch args[0] {
	case "up":
		created, err := migrations.EnsureDatabase(ctx, databaseURL)
		if err != nil {
			return err
		}
		if created {
			fmt.Fprintln(stdout, "created database")
		}
		if err := migrations.Up(ctx, databaseURL, logger); err != nil {
			return err
		}
	case "down":
		steps := 1
		if len(args) > 1 {
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 1 {
				return fmt.Errorf("%w: migrate down N: N must be a positive integer, got %q", errUsage, args[1])
			}
			steps = n
		}
		if err := migrations.Down(ctx, databaseURL, logger, steps); err != nil {
			return err
		}
	case "version":
	default:
		return fmt.Errorf("%w: unknown migrate command %q (up, down, version)", errUsage, args[0])
	}
	version, dirty, err := migrations.Version(ctx, databaseURL)
	if err != nil {
		return err
	}
	latest, err := migrations.Latest()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema version %d of %d", version, latest)
	if dirty {
		fmt.Fprint(stdout, " (dirty: a migration failed halfway; fix it, then force the version)")
	}
	fmt.Fprintln(stdout)
	return nil
}
