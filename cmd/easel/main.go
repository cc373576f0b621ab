// Command easel runs Easel: durable, accountable fal.ai image generation
// jobs in PostgreSQL. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const usage = `easel — durable fal.ai image generation jobs in PostgreSQL

usage: easel <command> [flags]

commands:
  serve     API, webhook receiver and workers (--role all|api|worker)
  migrate   up | down [N] | version
  sim       the fal simulator as its own server
  enqueue   enqueue a generation from the shell (--prompt, --image-url, --wait)
  keys      create NAME | list | revoke NAME: API keys of calling services
  bench     end-to-end benchmark against the in-process simulator (docs/BENCHMARKS.md)
  healthcheck  probe /readyz (for container healthchecks)

Configuration comes from the environment (DATABASE_URL, EASEL_ADDR, FAL_KEY, ...);
see README.md.
`

// errUsage marks errors caused by how the command was called (exit code 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))

	err := run(ctx, os.Args[1:], os.Stdout, logger)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "easel:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "easel:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "serve":
		return serveCmd(ctx, args, logger)
	case "migrate":
		return migrateCmd(ctx, args, stdout, logger)
	case "sim":
		return simCmd(ctx, args, stdout, logger)
	case "enqueue":
		return enqueueCmd(ctx, args, stdout)
	case "keys":
		return keysCmd(ctx, args, stdout, logger)
	case "bench":
		return benchCmd(ctx, args, stdout)
	case "healthcheck":
		return healthcheckCmd(ctx, args)
	default:
		return fmt.Errorf("%w: unknown command %q (run easel --help)", errUsage, cmd)
	}
}
