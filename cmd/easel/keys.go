package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/internal/serve"
	"github.com/easelhq/easel/migrations"
	"github.com/easelhq/easel/store"
)

const keysUsage = "easel keys create NAME | list | revoke NAME"

func keysCmd(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", errUsage, keysUsage)
	}
	sub, args := args[0], args[1:]
	wantArgs := map[string]int{"create": 1, "list": 0, "revoke": 1}
	n, ok := wantArgs[sub]
	if !ok {
		return fmt.Errorf("%w: unknown keys command %q (%s)", errUsage, sub, keysUsage)
	}
	if len(args) != n {
		return fmt.Errorf("%w: %s", errUsage, keysUsage)
	}

	databaseURL := os.Getenv("DATABASE_URL")
	if databaseURL == "" {
		databaseURL = serve.DefaultDatabaseURL
	}
	// Creating the first key may come before the first serve.
	if _, err := migrations.EnsureDatabase(ctx, databaseURL); err != nil {
		return err
	}
	if err := migrations.Up(ctx, databaseURL, logger); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("connect to database: %w", err)
	}
	defer conn.Close(ctx)

	switch sub {
	case "create":
		return createKey(ctx, conn, stdout, args[0])
	case "list":
		return listKeys(ctx, conn, stdout)
	default:
		k, err := store.RevokeAPIKey(ctx, conn, args[0])
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no active API key is named %q (see easel keys list)", args[0])
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked API key %q (%s…); requests with it get 401 within a second\n", k.Name, k.Prefix)
		return nil
	}
}

func createKey(ctx context.Context, conn *pgx.Conn, stdout io.Writer, name string) error {
	key, k, err := api.CreateKey(ctx, conn, name)
	if errors.Is(err, store.ErrAPIKeyNameTaken) {
		return fmt.Errorf("an active API key is already named %q: revoke it first (easel keys revoke %s), or choose another name", name, name)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, `Created API key %q. It is shown only this once; store it as a secret:

    %s

Send it with every /v1 request:

    curl -H 'Authorization: Bearer %s' http://127.0.0.1:8080/v1/generations/<id>

Generations enqueued with it have client %q. From now on every /v1 request needs a key.
`, k.Name, key, key, k.Name)
	return nil
}

func listKeys(ctx context.Context, conn *pgx.Conn, stdout io.Writer) error {
	keys, err := store.ListAPIKeys(ctx, conn)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		fmt.Fprintln(stdout, "no API keys; create one with easel keys create NAME")
		return nil
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tPREFIX\tCREATED\tLAST USED\tREVOKED")
	for _, k := range keys {
		fmt.Fprintf(w, "%s\t%s…\t%s\t%s\t%s\n", k.Name, k.Prefix, k.CreatedAt.UTC().Format(time.RFC3339), formatTime(k.LastUsedAt), formatTime(k.RevokedAt))
	}
	return w.Flush()
}

func formatTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
