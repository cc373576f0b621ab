package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/easelhq/easel/internal/serve"
)

var serveHelp = help{
	usage: "serve [flags]",
	about: `Runs Easel: the HTTP API (/v1, the gallery, /healthz, /readyz, /metrics),
the receiver of fal's webhooks and the River workers that submit generations
to fal and reconcile them, in one process; --role runs only the API or only
the workers. It waits up to 30s for Postgres, creates the database if it is
missing, applies pending migrations, then serves until SIGTERM or SIGINT.
Without FAL_KEY it runs against an in-process fal simulator.`,
	env: [][2]string{
		{"DATABASE_URL", "Postgres (default postgres://postgres@127.0.0.1:5432/easel?sslmode=disable)"},
		{"EASEL_ADDR", "listen address (default 127.0.0.1:8080); --addr overrides it"},
		{"EASEL_ROLE", "all, api or worker (default all); --role overrides it"},
		{"EASEL_PUBLIC_URL", "base URL fal calls back; required with --role worker, and with FAL_KEY\nunless FAL_QUEUE_URL is on loopback (an easel sim)"},
		{"FAL_KEY", "fal API key; unset runs the in-process simulator. Never logged"},
		{"FAL_QUEUE_URL", "fal queue base URL (default https://queue.fal.run)"},
		{"FAL_MEDIA_EXPIRATION", "fal deletes each submission's images this long after it, such as 24h\n(whole seconds); unset, the fal account's media retention applies"},
		{"FAL_STORE_IO", "false asks fal not to keep each submission's JSON (default true)"},
		{"FAL_MAX_INFLIGHT", "most generations at fal at once, across all processes (default 32)"},
		{"EASEL_WORKERS", "River workers submitting to fal (default 16)"},
		{"EASEL_LOG_LEVEL", "debug, info, warn or error (default info)"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "exports traces over OTLP/HTTP when set"},
	},
	footer: `Every other variable (FAL_JWKS_URL, EASEL_TIMEOUT, EASEL_CALLBACK_SECRET, ...)
is in README.md's Configuration table. A bad value stops start-up with a line
naming the variable.`,
}

func serveCmd(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string, logger loggerFunc) error {
	fs := newFlagSet("serve")
	// No defaults of their own: unset, the environment's apply, read only
	// once the flags asked for no help.
	var role serve.Role
	fs.Var(&role, "role", "the `role` of this process: all, api (HTTP API and webhooks) or worker (River workers) (default EASEL_ROLE, else all)")
	addr := fs.String("addr", "", "listen `host:port` (default EASEL_ADDR, else 127.0.0.1:8080)")
	if err := parseFlags(fs, serveHelp, args, stdout); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	// An empty address would listen on every interface at a random port;
	// one net.Listen refuses would fail only after the migrations.
	if err := serve.CheckAddr(*addr); set["addr"] && err != nil {
		return flagError("serve", fmt.Errorf("invalid value %q for flag -addr: %w", *addr, err))
	}
	l, err := logger()
	if err != nil {
		return err
	}
	env := getenv
	if set["addr"] {
		// Only the address in effect is checked: --addr's, not the
		// EASEL_ADDR it overrides.
		env = func(name string) string {
			if name == "EASEL_ADDR" {
				return *addr
			}
			return getenv(name)
		}
	}
	cfg, err := serve.ConfigFromEnv(env)
	if err != nil {
		// Each of its errors is a bad variable: exit 2.
		return usageError{err}
	}
	if set["role"] {
		cfg.Role = role
	}
	if err := serve.CheckAddr(cfg.Addr); !set["addr"] && err != nil {
		return usageError{fmt.Errorf("EASEL_ADDR: %q: %w", cfg.Addr, err)}
	}
	err = serve.Run(ctx, cfg, l, nil)
	var listenErr *serve.ListenError
	if set["addr"] && errors.As(err, &listenErr) {
		listenErr.Source = "--addr"
	}
	return err
}
