package main

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/easelhq/easel/fal/falsim"
)

var simHelp = help{
	usage: "sim [flags]",
	about: `Runs the fal simulator as its own server: fal's queue API (submit, status,
result, cancel), signed webhooks with their JWKS, and the result images, with
the latency and the faults the flags ask for. Once it listens it prints, on
stdout, the FAL_QUEUE_URL, FAL_JWKS_URL and FAL_KEY that point easel serve at
it. It runs until SIGTERM or SIGINT; its requests live in memory only.`,
	env: [][2]string{
		{"EASEL_LOG_LEVEL", "debug, info, warn or error (default info)"},
	},
	footer: `docs/SIMULATOR.md says more.`,
}

func simCmd(ctx context.Context, args []string, stdout io.Writer, logger loggerFunc) error {
	fs := newFlagSet("sim")
	addr := fs.String("addr", "127.0.0.1:9090", "listen `host:port`")
	cfg := falsim.RegisterFlags(fs)
	if err := parseFlags(fs, simHelp, args, stdout); err != nil {
		return err
	}
	// An empty address would listen on every interface at a random port.
	if _, _, err := net.SplitHostPort(*addr); err != nil {
		return flagError("sim", fmt.Errorf("invalid value %q for flag -addr: not host:port", *addr))
	}
	l, err := logger()
	if err != nil {
		return err
	}
	cfg.Logger = l
	return falsim.Run(ctx, *addr, *cfg, stdout)
}
