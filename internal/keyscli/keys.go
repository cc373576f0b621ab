package keyscli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/callbacks"
	"github.com/easelhq/easel/migrations"
	"github.com/easelhq/easel/store"
)

// ErrUsage marks an error in how the command was called, its NAME or a
// variable of its environment, which the caller must change before running
// it again.
var ErrUsage = errors.New("usage")

// usageError is err marked ErrUsage, with err's message alone.
type usageError struct{ error }

func (e usageError) Is(target error) bool { return target == ErrUsage }
func (e usageError) Unwrap() error        { return e.error }

// Env is what the commands read and write besides their words.
type Env struct {
	// Stdout gets what a script captures, alone: create's key, list's
	// table, callback-secret's secret. Stderr, if set, gets what a person
	// reads.
	Stdout, Stderr io.Writer
	// DatabaseURL is the database whose keys create, list and revoke
	// manage (DATABASE_URL).
	DatabaseURL string
	// BaseURL is where easel serve, run with the same environment, is
	// reached: create's example request goes there.
	BaseURL string
	// CallbackSecret is EASEL_CALLBACK_SECRET as set, read by create and
	// callback-secret.
	CallbackSecret string
	Logger         *slog.Logger
}

// CheckName refuses, with ErrUsage, a NAME that command would refuse only
// after reading the database, or never: an empty one, and for create one
// that is no valid key name. It reads no database.
func CheckName(command, name string) error {
	switch command {
	case "create", "revoke", "callback-secret":
	default:
		return nil
	}
	if name == "" {
		return usageError{fmt.Errorf("keys %s NAME: NAME is empty", command)}
	}
	if command != "create" {
		// A key is revoked by the name it has, valid or not by today's rules.
		return nil
	}
	if err := api.CheckKeyName(name); err != nil {
		return usageError{fmt.Errorf("keys create NAME: %w", err)}
	}
	return nil
}

// Run runs the keys command: create, list, revoke or callback-secret, with
// name, the NAME of those that take one.
func Run(ctx context.Context, command, name string, env Env) error {
	switch command {
	case "create", "list", "revoke", "callback-secret":
	default:
		return usageError{fmt.Errorf("unknown keys command %q", command)}
	}
	if err := CheckName(command, name); err != nil {
		return err
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	var secrets *callbacks.Secrets
	if command == "create" || command == "callback-secret" {
		// Read before the database is touched: a bad value changes nothing.
		var err error
		if secrets, err = callbackSecrets(env.CallbackSecret); err != nil {
			return err
		}
	}
	if command == "callback-secret" {
		return printCallbackSecret(env.Stdout, secrets, name)
	}

	if err := checkSchema(ctx, env.DatabaseURL, command == "create", env.Logger); err != nil {
		return err
	}
	connCfg, err := migrations.ConnConfig(env.DatabaseURL)
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, connCfg)
	if err != nil {
		return fmt.Errorf("connect to database: %w", err)
	}
	defer conn.Close(ctx)

	switch command {
	case "create":
		return createKey(ctx, conn, env, name, secrets)
	case "list":
		return listKeys(ctx, conn, env.Stdout, env.Stderr)
	default:
		return revokeKey(ctx, conn, env.Stdout, name)
	}
}

// createKey prints the key alone on stdout, for KEY=$(easel keys create
// NAME), and what to do with it on stderr, which shows no secret but the
// client's callback secret: easel keys callback-secret prints that alone.
func createKey(ctx context.Context, conn *pgx.Conn, env Env, name string, secrets *callbacks.Secrets) error {
	key, k, err := api.CreateKey(ctx, conn, name)
	if errors.Is(err, store.ErrAPIKeyNameTaken) {
		return fmt.Errorf("an active API key is already named %q: revoke it first (easel keys revoke %s), or choose another name", name, name)
	}
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(env.Stdout, key); err != nil {
		return fmt.Errorf("print API key %q, created: revoke it (easel keys revoke %s) and create another: %w", k.Name, k.Name, err)
	}
	fmt.Fprintf(env.Stderr, `Created API key %q, printed on stdout. It is shown only this once; store it as a secret.
Send it with every /v1 request; here from EASEL_API_KEY, which easel enqueue reads too:

    curl -H "Authorization: Bearer $EASEL_API_KEY" %s/v1/generations/<id>

Generations enqueued with it have client %q. From now on every /v1 request needs a key.
`, k.Name, env.BaseURL, k.Name)
	if secrets != nil {
		fmt.Fprintf(env.Stderr, `
The callbacks of its generations (callback_url) are signed with client %q's
own callback secret. Give it to the service that receives them, as a secret,
to verify them with (docs/CALLBACKS.md); easel keys callback-secret %s
prints it alone, on stdout:

    callback secret: %s
`, k.Name, k.Name, secrets.ClientSecret(k.Name))
	}
	return nil
}

func revokeKey(ctx context.Context, conn *pgx.Conn, stdout io.Writer, name string) error {
	k, err := store.RevokeAPIKey(ctx, conn, name)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no active API key is named %q (see easel keys list)", name)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked API key %q (%s...); requests with it get 401 within a second\n", k.Name, k.Prefix)
	return nil
}

// callbackSecrets reads EASEL_CALLBACK_SECRET, given as value, as easel
// serve does; nil when it is unset.
func callbackSecrets(value string) (*callbacks.Secrets, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return nil, nil
	}
	secrets, err := callbacks.ParseSecrets(value)
	if err != nil {
		return nil, usageError{fmt.Errorf("EASEL_CALLBACK_SECRET: %w", err)}
	}
	return secrets, nil
}

// printCallbackSecret prints client's callback secret alone on a line, for
// a script to capture.
func printCallbackSecret(stdout io.Writer, secrets *callbacks.Secrets, client string) error {
	if secrets == nil {
		return usageError{errors.New("EASEL_CALLBACK_SECRET is unset: set it as for easel serve; callback secrets are derived from it")}
	}
	fmt.Fprintln(stdout, secrets.ClientSecret(client))
	return nil
}

// listKeys prints the keys as a table on stdout; with none, stdout stays
// empty, for a script, and stderr says how to create one.
func listKeys(ctx context.Context, conn *pgx.Conn, stdout, stderr io.Writer) error {
	keys, err := store.ListAPIKeys(ctx, conn)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		fmt.Fprintln(stderr, "no API keys; create one with easel keys create NAME")
		return nil
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tPREFIX\tCREATED\tLAST USED\tREVOKED")
	for _, k := range keys {
		// "...": the key goes on; ASCII, for any terminal and any script.
		fmt.Fprintf(w, "%s\t%s...\t%s\t%s\t%s\n", k.Name, k.Prefix, k.CreatedAt.UTC().Format(time.RFC3339), formatTime(k.LastUsedAt), formatTime(k.RevokedAt))
	}
	return w.Flush()
}

func formatTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
