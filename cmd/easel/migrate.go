package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/easelhq/easel/internal/dbwait"
	"github.com/easelhq/easel/internal/serve"
	"github.com/easelhq/easel/migrations"
)

const migrateUsage = "easel migrate up | down [N] | version | force V"

// allowRunningReplicasFlag is migrate up's one flag.
const allowRunningReplicasFlag = "allow-running-replicas"

var migrateHelp = help{
	usage: migrateUsage[len("easel "):],
	about: `Changes or shows the database's schema, River's tables included. easel serve
migrates up on start; these commands are for deployments that migrate as a
step of their own, and for rolling back.`,
	commands: [][2]string{
		{"up", "create the database if it is missing, then apply every pending migration;\n" +
			"refused, changing nothing, when a pending migration breaks older\n" +
			"binaries while other Easel sessions are connected: stop them first.\n" +
			"up --allow-running-replicas applies it anyway, for when those\n" +
			"sessions are binaries at this version or later already (easel\n" +
			"serve, which migrates up on start, never does)"},
		{"down [N]", "revert the newest N migrations (default 1); refused, changing\nnothing, when the schema has fewer than N"},
		{"version", "print the schema version and the newest this binary knows; exits\n1 when the version is dirty (a migration failed or was interrupted)"},
		{"force V", "record V as the schema version, clean, running no migration: after\na migration was interrupted, once the schema is at V (the error, and\neasel migrate version, say which V to force); 0 means none applied"},
	},
	env: [][2]string{
		{"DATABASE_URL", "the database (default postgres://postgres@127.0.0.1:5432/easel?sslmode=disable);\nonly up creates it when it is missing; waited for up to 30 s while\nPostgres refuses connections"},
		{"EASEL_LOG_LEVEL", "debug, info, warn or error (default info)"},
	},
}

// cutAllowRunningReplicas takes --allow-running-replicas out of args, before
// any "--": parseWords takes words only. -allow-running-replicas and
// =true or =false are accepted, as the flag package accepts them.
func cutAllowRunningReplicas(args []string) (rest []string, allow, given bool, err error) {
	for i, a := range args {
		if a == "--" {
			return append(rest, args[i:]...), allow, given, nil
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		if !strings.HasPrefix(a, "-") || name != allowRunningReplicasFlag {
			rest = append(rest, a)
			continue
		}
		given, allow = true, true
		if hasValue {
			if allow, err = strconv.ParseBool(value); err != nil {
				return nil, false, false, usageError{fmt.Errorf("invalid value %q for flag --%s: want true or false; %s", value, allowRunningReplicasFlag, seeHelp("migrate"))}
			}
		}
	}
	return rest, allow, given, nil
}

func migrateCmd(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string, loggerFn loggerFunc) error {
	args, allowRunningReplicas, flagGiven, err := cutAllowRunningReplicas(args)
	if err != nil {
		return err
	}
	words, err := parseWords("migrate", migrateHelp.String(), args, stdout)
	if err != nil {
		return err
	}
	if len(words) == 0 {
		return usageError{fmt.Errorf("missing the migrate command: %s; %s", migrateUsage, seeHelp("migrate"))}
	}
	sub, words := words[0], words[1:]
	maxWords := map[string]int{"up": 0, "down": 1, "force": 1, "version": 0}
	n, ok := maxWords[sub]
	if !ok {
		return usageError{fmt.Errorf("unknown migrate command %q (%s)", sub, migrateUsage)}
	}
	if len(words) > n {
		return unexpectedArg("migrate "+sub, words[n])
	}
	if flagGiven && sub != "up" {
		return usageError{fmt.Errorf("migrate %s takes no flag --%s: it is for easel migrate up only; %s", sub, allowRunningReplicasFlag, seeHelp("migrate"))}
	}
	if sub == "force" && len(words) == 0 {
		return usageError{fmt.Errorf("migrate force V: missing V, the version to record; %s", seeHelp("migrate"))}
	}
	logger, err := loggerFn()
	if err != nil {
		return err
	}
	databaseURL := databaseURL(getenv)
	if err := serve.CheckDatabaseURL(databaseURL); err != nil {
		return err
	}
	var upOpts []migrations.UpOption
	if allowRunningReplicas {
		upOpts = append(upOpts, migrations.AllowRunningReplicas())
	}
	if err := migrate(ctx, sub, words, databaseURL, stdout, logger, upOpts...); err != nil {
		if errors.Is(err, migrations.ErrNoDatabase) {
			// Only up creates the database; the others say how to get one.
			return fmt.Errorf("%w: check DATABASE_URL, or create the database and its schema first with easel migrate up (or easel serve)", err)
		}
		return err
	}
	return nil
}

// migrate runs the migrate command sub with its words, then prints the
// schema version.
func migrate(ctx context.Context, sub string, words []string, databaseURL string, stdout io.Writer, logger *slog.Logger, upOpts ...migrations.UpOption) error {
	// Its word read first: a mistake is not made to wait for the database.
	steps, version := 1, uint64(0)
	switch sub {
	case "down":
		if len(words) > 0 {
			n, err := strconv.Atoi(words[0])
			if err != nil || n < 1 {
				return usageError{fmt.Errorf("migrate down N: N must be a positive integer, got %q", words[0])}
			}
			steps = n
		}
	case "force":
		v, err := strconv.ParseUint(words[0], 10, 0)
		if err != nil {
			return usageError{fmt.Errorf("migrate force V: V must be a version, 0 or more, got %q", words[0])}
		}
		latest, err := migrations.Latest()
		if err != nil {
			return err
		}
		if v > uint64(latest) {
			return usageError{fmt.Errorf("migrate force %d: this binary's migrations go up to version %d; nothing was changed", v, latest)}
		}
		version = v
	}
	if err := awaitDatabase(ctx, dbwait.AtStart(), databaseURL, logger); err != nil {
		return err
	}
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
		if err := migrations.Up(ctx, databaseURL, logger, upOpts...); err != nil {
			return err
		}
	case "down":
		if err := checkDownSteps(ctx, databaseURL, steps); err != nil {
			return err
		}
		if err := migrations.Down(ctx, databaseURL, logger, steps); err != nil {
			return err
		}
	case "force":
		if err := migrations.Force(ctx, databaseURL, logger, uint(version)); err != nil {
			return err
		}
	}
	// CurrentVersion, unlike Version, leaves a database without Easel's
	// schema as it is: "easel migrate version" only looks.
	current, dirty, err := migrations.CurrentVersion(ctx, databaseURL)
	if err != nil {
		return err
	}
	latest, err := migrations.Latest()
	if err != nil {
		return err
	}
	if !dirty {
		fmt.Fprintf(stdout, "schema version %d of %d\n", current, latest)
		return nil
	}
	// Said on stdout as always, and as an error, so that a script or a
	// deployment step checking the schema stops here.
	fmt.Fprintf(stdout, "schema version %d of %d (dirty)\n", current, latest)
	if current > latest {
		return migrations.SchemaNewerError(current, latest)
	}
	return migrations.ExplainDirty(ctx, databaseURL, current)
}

// checkDownSteps refuses, as a usage error, more steps than the schema has
// migrations to revert: asked of a clean schema this binary knows, the
// command is what is wrong. Every other case is left to migrations.Down,
// which refuses it too, changing nothing, and says why.
func checkDownSteps(ctx context.Context, databaseURL string, steps int) error {
	version, dirty, err := migrations.CurrentVersion(ctx, databaseURL)
	if err != nil || dirty {
		return nil
	}
	latest, err := migrations.Latest()
	if err != nil || version > latest || uint(steps) <= version {
		return nil
	}
	if version == 0 {
		return usageError{fmt.Errorf("migrate down %d: the schema is at version 0: there is no migration to revert; nothing was changed", steps)}
	}
	return usageError{fmt.Errorf("migrate down %d: the schema is at version %d, so at most %d migrations can be reverted (easel migrate down %d reverts them all); nothing was changed",
		steps, version, version, version)}
}
