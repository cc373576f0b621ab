package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/callbacks"
	"github.com/easelhq/easel/migrations"
	"github.com/easelhq/easel/store"
)

const keysUsage = "easel keys create NAME | list | revoke NAME | callback-secret NAME"

const keysHelp = "usage: " + keysUsage + `

  create NAME           create an API key for the calling service NAME and print it,
                        once, with NAME's callback secret when EASEL_CALLBACK_SECRET is set
  list                  list the keys: names, prefixes, created, last used, revoked
  revoke NAME           revoke NAME's active key; requests with it get 401 within a second
  callback-secret NAME  print the secret that the callbacks of client NAME's generations
                        are signed with, derived from EASEL_CALLBACK_SECRET's current
                        secret: what NAME's receivers verify with

The database is DATABASE_URL's (default postgres://postgres@127.0.0.1:5432/easel).
It must exist, with Easel's schema at this binary's version: run easel migrate
up (or easel serve) first. Only create, on a database with no schema yet (a
fresh install), applies the schema itself. callback-secret reads no database:
NAME is a generation's client exactly as the generations table has it (an API
key's name, or the client a Go service passes to jobs.Enqueue), and any NAME
gets a secret, so check its spelling.
`

func keysCmd(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string, logger *slog.Logger) error {
	words, err := parseWords("keys", keysHelp, args, stdout)
	if err != nil {
		return err
	}
	if len(words) == 0 {
		return fmt.Errorf("%w: %s", errUsage, keysUsage)
	}
	sub, words := words[0], words[1:]
	wantWords := map[string]int{"create": 1, "list": 0, "revoke": 1, "callback-secret": 1}
	n, ok := wantWords[sub]
	if !ok {
		return fmt.Errorf("%w: unknown keys command %q (%s)", errUsage, sub, keysUsage)
	}
	if len(words) < n {
		return fmt.Errorf("%w: easel keys %s NAME: missing NAME", errUsage, sub)
	}
	if len(words) > n {
		return unexpectedArg("keys "+sub, words[n])
	}

	var secrets *callbacks.Secrets
	if sub == "create" || sub == "callback-secret" {
		// Read before the database is touched: a bad value changes nothing.
		if secrets, err = callbackSecrets(getenv); err != nil {
			return err
		}
	}
	if sub == "callback-secret" {
		return printCallbackSecret(stdout, secrets, words[0])
	}

	databaseURL := databaseURL(getenv)
	if err := checkKeysSchema(ctx, databaseURL, sub == "create", logger); err != nil {
		return err
	}
	connCfg, err := migrations.ConnConfig(databaseURL)
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, connCfg)
	if err != nil {
		return fmt.Errorf("connect to database: %w", err)
	}
	defer conn.Close(ctx)

	switch sub {
	case "create":
		return createKey(ctx, conn, stdout, words[0], apiBaseURL(getenv), secrets)
	case "list":
		return listKeys(ctx, conn, stdout)
	default:
		k, err := store.RevokeAPIKey(ctx, conn, words[0])
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no active API key is named %q (see easel keys list)", words[0])
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked API key %q (%s…); requests with it get 401 within a second\n", k.Name, k.Prefix)
		return nil
	}
}

// checkKeysSchema makes sure the keys commands find Easel's schema at this
// binary's version. It never creates a database, so that a mistyped
// DATABASE_URL fails instead of answering from a new, empty one, and never
// migrates a database that has a schema, which is the operator's call (easel
// migrate up) and not a side effect of managing keys. Only create, when
// migrateFresh, applies the schema to a database that has none: on a fresh
// Docker install the Postgres image has created the database, and the first
// key comes before the first easel serve. A schema newer than this binary is
// used only when it is compatible with it, as easel serve does
// (migrations.CheckNewer).
func checkKeysSchema(ctx context.Context, databaseURL string, migrateFresh bool, logger *slog.Logger) error {
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

// defaultAddr is EASEL_ADDR's default, as internal/serve has it.
const defaultAddr = "127.0.0.1:8080"

// apiBaseURL is the base URL at which easel serve, run with the same
// environment, is reached: EASEL_PUBLIC_URL when set, else the listen
// address EASEL_ADDR as a process on this host dials it. It mirrors
// internal/serve's listenerURL, which is unexported and needs a live
// listener: an empty or unspecified host (0.0.0.0, ::) becomes 127.0.0.1.
func apiBaseURL(getenv func(string) string) string {
	if public := strings.TrimRight(strings.TrimSpace(getenv("EASEL_PUBLIC_URL")), "/"); public != "" {
		return public
	}
	addr := cmp.Or(strings.TrimSpace(getenv("EASEL_ADDR")), defaultAddr)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		// easel serve refuses it too; show what was configured.
		return "http://" + addr
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func createKey(ctx context.Context, conn *pgx.Conn, stdout io.Writer, name, baseURL string, secrets *callbacks.Secrets) error {
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

    curl -H 'Authorization: Bearer %s' %s/v1/generations/<id>

Generations enqueued with it have client %q. From now on every /v1 request needs a key.
`, k.Name, key, key, baseURL, k.Name)
	if secrets != nil {
		fmt.Fprintf(stdout, `
The callbacks of its generations (callback_url) are signed with client %q's
own callback secret. Give it to the service that receives them, as a secret,
to verify them with (docs/CALLBACKS.md); easel keys callback-secret %s
prints it again:

    %s
`, k.Name, k.Name, secrets.ClientSecret(k.Name))
	}
	return nil
}

// callbackSecrets reads EASEL_CALLBACK_SECRET as easel serve does; nil when
// it is unset.
func callbackSecrets(getenv func(string) string) (*callbacks.Secrets, error) {
	value := strings.TrimSpace(getenv("EASEL_CALLBACK_SECRET"))
	if value == "" {
		return nil, nil
	}
	secrets, err := callbacks.ParseSecrets(value)
	if err != nil {
		return nil, fmt.Errorf("EASEL_CALLBACK_SECRET: %w", err)
	}
	return secrets, nil
}

// printCallbackSecret prints client's callback secret alone on a line, for
// a script to capture.
func printCallbackSecret(stdout io.Writer, secrets *callbacks.Secrets, client string) error {
	if secrets == nil {
		return errors.New("EASEL_CALLBACK_SECRET is unset: set it as for easel serve; callback secrets are derived from it")
	}
	if client == "" {
		return fmt.Errorf("%w: easel keys callback-secret NAME: NAME is empty", errUsage)
	}
	fmt.Fprintln(stdout, secrets.ClientSecret(client))
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
