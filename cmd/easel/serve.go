package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/easelhq/easel/internal/serve"
)

func serveCmd(ctx context.Context, args []string, logger *slog.Logger) error {
	cfg, err := serve.ConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.Var(&cfg.Role, "role", "what this process runs: all, api (HTTP API and webhooks) or worker (River workers); env EASEL_ROLE")
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address; env EASEL_ADDR")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return serve.Run(ctx, cfg, logger, nil)
}
