package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/easelhq/easel/fal/falsim"
)

func simCmd(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9090", "listen address")
	cfg := falsim.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if err := noArgs("sim", fs); err != nil {
		return err
	}
	// An empty address would listen on every interface at a random port.
	if _, _, err := net.SplitHostPort(*addr); err != nil {
		return fmt.Errorf("%w: invalid value %q for flag -addr: not host:port", errUsage, *addr)
	}
	cfg.Logger = logger
	return falsim.Run(ctx, *addr, *cfg, stdout)
}
