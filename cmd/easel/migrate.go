package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/easelhq/easel/migrations"
)

const migrateUsage = "easel migrate up | down [N] | version | force V"

const migrateHelp = "usage: " + migrateUsage + `

  up        create the database if it is missing, then apply every pending migration
  down [N]  revert the newest N migrations (default 1); refused, changing
            nothing, when the schema has fewer than N
  version   print the schema version and the newest this binary knows; exits
            1 when the version is dirty (a migration failed or was interrupted)
  force V   record V as the schema version, clean, running no migration: after
            a migration failed, once the schema is at V (the error, and
            easel migrate version, say which V to force); 0 means none applied

The database is DATABASE_URL's (default postgres://postgres@127.0.0.1:5432/easel).
`

func migrateCmd(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string, logger *slog.Logger) error {
	words, err := parseWords("migrate", migrateHelp, args, stdout)
	if err != nil {
		return err
	}
	if len(words) == 0 {
		return fmt.Errorf("%w: %s", errUsage, migrateUsage)
	}
	sub, words := words[0], words[1:]
	maxWords := map[string]int{"up": 0, "down": 1, "force": 1, "version": 0}
	n, ok := maxWords[sub]
	if !ok {
		return fmt.Errorf("%w: unknown migrate command %q (%s)", errUsage, sub, migrateUsage)
	}
	if len(words) > n {
		return unexpectedArg("migrate "+sub, words[n])
	}
	if sub == "force" && len(words) == 0 {
		return fmt.Errorf("%w: migrate force V: missing V, the version to record (see easel migrate --help)", errUsage)
	}

	databaseURL := databaseURL(getenv)
	switch sub {
	case "up":
		created, err := migrations.EnsureDatabase(ctx, databaseURL)
		if err != nil {
			return err
		}
		if created {
			name, err := migrations.DatabaseName(databaseURL)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "created database %q\n", name)
		}
		if err := migrations.Up(ctx, databaseURL, logger); err != nil {
			return err
		}
	case "down":
		steps := 1
		if len(words) > 0 {
			n, err := strconv.Atoi(words[0])
			if err != nil || n < 1 {
				return fmt.Errorf("%w: migrate down N: N must be a positive integer, got %q", errUsage, words[0])
			}
			steps = n
		}
		if err := migrations.Down(ctx, databaseURL, logger, steps); err != nil {
			return err
		}
	case "force":
		v, err := strconv.ParseUint(words[0], 10, 0)
		if err != nil {
			return fmt.Errorf("%w: migrate force V: V must be a version, 0 or more, got %q", errUsage, words[0])
		}
		if err := migrations.Force(ctx, databaseURL, logger, uint(v)); err != nil {
			return err
		}
	}
	// CurrentVersion, unlike Version, leaves a database without Easel's
	// schema as it is: "easel migrate version" only looks.
	version, dirty, err := migrations.CurrentVersion(ctx, databaseURL)
	if err != nil {
		return err
	}
	latest, err := migrations.Latest()
	if err != nil {
		return err
	}
	if !dirty {
		fmt.Fprintf(stdout, "schema version %d of %d\n", version, latest)
		return nil
	}
	// Said on stdout as always, and as an error, so that a script or a
	// deployment step checking the schema stops here.
	fmt.Fprintf(stdout, "schema version %d of %d (dirty)\n", version, latest)
	if version > latest {
		return migrations.SchemaNewerError(version, latest)
	}
	return migrations.DirtyError(version)
}
