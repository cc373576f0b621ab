package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/easelhq/easel/internal/keyscli"
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
	var name string
	if n == 1 {
		name = words[0]
	}
	err = keyscli.Run(ctx, sub, name, keyscli.Env{
		Stdout:         stdout,
		DatabaseURL:    databaseURL(getenv),
		BaseURL:        apiBaseURL(getenv),
		CallbackSecret: getenv("EASEL_CALLBACK_SECRET"),
		Logger:         logger,
	})
	if errors.Is(err, keyscli.ErrUsage) {
		return usageError{err}
	}
	return err
}
