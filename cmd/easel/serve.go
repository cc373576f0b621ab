package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"github.com/easelhq/easel/internal/serve"
)

func serveCmd(ctx context.Context, args []string, getenv func(string) string, logger *slog.Logger) error {
	cfg, err := serve.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.Var(&cfg.Role, "role", "what this process runs: all, api (HTTP API and webhooks) or worker (River workers); env EASEL_ROLE")
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address; env EASEL_ADDR")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if err := noArgs("serve", fs); err != nil {
		return err
	}
	return serve.Run(ctx, cfg, logger, nil)
}
