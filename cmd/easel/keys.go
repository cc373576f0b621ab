package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/easelhq/easel/callbacks"
	"github.com/easelhq/easel/internal/dbwait"
	"github.com/easelhq/easel/internal/keyscli"
	"github.com/easelhq/easel/internal/serve"
)

const keysUsage = "easel keys create NAME | list | revoke NAME | callback-secret NAME"

var keysHelp = help{
	usage: keysUsage[len("easel "):],
	about: `Creates, lists and revokes the API keys of the services that call Easel, and
prints a client's callback secret. What a script wants goes to stdout alone,
the rest to stderr: create prints the key alone on stdout's one line
(KEY=$(easel keys create NAME)); list prints its table, nothing when there
are no keys; callback-secret prints the secret alone. The database must exist,
with Easel's schema at this binary's version: run easel migrate up (or easel
serve) first. Only create, on a database with no schema yet (a fresh
install), applies the schema itself.`,
	commands: [][2]string{
		{"create NAME", "create an API key for the calling service NAME and print it, once;\nNAME holds letters, digits, '.', '_' and '-'. Its instructions, and\nNAME's callback secret when EASEL_CALLBACK_SECRET is set, go to stderr\n(callback-secret NAME prints that alone)"},
		{"list", "list the keys: names, prefixes, created, last used, revoked"},
		{"revoke NAME", "revoke NAME's active key; requests with it get 401 within a second"},
		{"callback-secret NAME", "print the secret that the callbacks of client NAME's generations are\nsigned with, derived from EASEL_CALLBACK_SECRET's current secret: what\nNAME's receivers verify with. It reads no database: NAME is a client as\nthe generations table has it (an API key's name, or the client a Go\nservice passes to jobs.Enqueue), and any NAME gets a secret, so check\nits spelling"},
	},
	env: [][2]string{
		{"DATABASE_URL", "the database (default postgres://postgres@127.0.0.1:5432/easel?sslmode=disable);\nnever created; waited for up to 30 s while Postgres refuses connections"},
		{"EASEL_PUBLIC_URL", "where create's example request goes, when set"},
		{"EASEL_ADDR", "else that listen address as this host reaches it (0.0.0.0 becomes\n127.0.0.1; unset, 127.0.0.1:8080)"},
		{"EASEL_CALLBACK_SECRET", "the master secret callback secrets derive from, as for easel serve;\nread by create and callback-secret"},
		{"EASEL_LOG_LEVEL", "debug, info, warn or error (default info)"},
	},
}

func keysCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string, loggerFn loggerFunc) error {
	words, err := parseWords("keys", keysHelp.String(), args, stdout)
	if err != nil {
		return err
	}
	if len(words) == 0 {
		return usageError{fmt.Errorf("missing the keys command: %s; %s", keysUsage, seeHelp("keys"))}
	}
	sub, words := words[0], words[1:]
	wantWords := map[string]int{"create": 1, "list": 0, "revoke": 1, "callback-secret": 1}
	n, ok := wantWords[sub]
	if !ok {
		return usageError{fmt.Errorf("unknown keys command %q (%s)", sub, keysUsage)}
	}
	if len(words) < n {
		return usageError{fmt.Errorf("keys %s NAME: missing NAME; %s", sub, seeHelp("keys"))}
	}
	if len(words) > n {
		return unexpectedArg("keys "+sub, words[n])
	}
	var name string
	if n == 1 {
		name = words[0]
	}
	// Refused before the environment is read, as a bad flag is.
	if err := keyscli.CheckName(sub, name); err != nil {
		return usageError{err}
	}
	logger, err := loggerFn()
	if err != nil {
		return err
	}
	env := keyscli.Env{
		Stdout:         stdout,
		Stderr:         stderr,
		CallbackSecret: getenv("EASEL_CALLBACK_SECRET"),
		Logger:         logger,
	}
	if sub != "callback-secret" { // which reads no database
		env.DatabaseURL = databaseURL(getenv)
		if err := serve.CheckDatabaseURL(env.DatabaseURL); err != nil {
			return err
		}
	}
	if sub == "create" { // the only one to print a request
		if env.BaseURL, err = apiBaseURL(getenv); err != nil {
			return err
		}
	}
	// Once every argument and variable is known good: a mistake is not
	// made to wait. keyscli.Run reads EASEL_CALLBACK_SECRET again, and
	// refuses it as this does.
	if secret := strings.TrimSpace(env.CallbackSecret); sub == "create" && secret != "" {
		if _, err := callbacks.ParseSecrets(secret); err != nil {
			return usageError{fmt.Errorf("EASEL_CALLBACK_SECRET: %w", err)}
		}
	}
	if sub != "callback-secret" {
		if err := awaitDatabase(ctx, dbwait.AtStart(), env.DatabaseURL, logger); err != nil {
			return err
		}
	}
	err = keyscli.Run(ctx, sub, name, env)
	if errors.Is(err, keyscli.ErrUsage) {
		return usageError{err}
	}
	return err
}
