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

	"github.com/easelhq/easel/internal/serve"
)

const usage = `easel — durable fal.ai image generation jobs in PostgreSQL

usage: easel <command> [flags]

commands:
  serve        API, webhook receiver and workers (--role all|api|worker)
  migrate      up | down [N] | version | force V
  sim          the fal simulator as its own server
  enqueue      enqueue a generation from the shell (--prompt, --image-url, --wait)
  keys         create NAME | list | revoke NAME: API keys of calling services
  bench        end-to-end benchmark against the in-process simulator (docs/BENCHMARKS.md)
  healthcheck  probe /readyz (for container healthchecks)

Run easel <command> --help for a command's flags and arguments.
Configuration comes from the environment (DATABASE_URL, EASEL_ADDR, FAL_KEY, ...);
see README.md.
`

// errUsage marks errors caused by how the command was called (exit code 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal starts a graceful shutdown; restoring the default
	// handling then lets a second one stop the process at once, for an
	// operator who will not wait for it.
	go func() {
		<-ctx.Done()
		stop()
	}()
	logger, err := newLogger(os.Getenv, os.Stderr)
	if err == nil {
		// Packages without a logger of their own (jobs.EnqueuePool's
		// wake-up of the workers) log through the default.
		slog.SetDefault(logger)
		err = run(ctx, os.Args[1:], os.Stdout, os.Getenv, logger)
	}
	code := exitCode(err, os.Stderr)
	stop()
	os.Exit(code)
}

// exitCode prints err, if any, and returns the status to exit with: 0 for
// success and for help, 2 for a usage error, 1 for any other error.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "easel:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "easel:", err)
		return 1
	}
}

func run(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string, logger *slog.Logger) error {
	if len(args) == 0 || isHelp(args[0]) || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "serve":
		return serveCmd(ctx, args, getenv, logger)
	case "migrate":
		return migrateCmd(ctx, args, stdout, getenv, logger)
	case "sim":
		return simCmd(ctx, args, stdout, logger)
	case "enqueue":
		return enqueueCmd(ctx, args, stdout, getenv)
	case "keys":
		return keysCmd(ctx, args, stdout, getenv, logger)
	case "bench":
		return benchCmd(ctx, args, stdout, getenv)
	case "healthcheck":
		return healthcheckCmd(ctx, args, getenv)
	default:
		return fmt.Errorf("%w: unknown command %q (run easel --help)", errUsage, cmd)
	}
}

func databaseURL(getenv func(string) string) string {
	if u := getenv("DATABASE_URL"); u != "" {
		return u
	}
	return serve.DefaultDatabaseURL
}

// isHelp reports whether arg asks for help, as the flag package reads it.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "--h", "-help", "--help":
		return true
	}
	return false
}

// parseWords reads the arguments of a command that takes words rather than
// flags (migrate, keys). -h or --help anywhere prints help to stdout and
// returns flag.ErrHelp; any other flag is a usage error. After "--" every
// argument is a word, for key names that start with "-".
func parseWords(cmd, help string, args []string, stdout io.Writer) ([]string, error) {
	var words []string
	for i, a := range args {
		switch {
		case a == "--":
			return append(words, args[i+1:]...), nil
		case isHelp(a):
			fmt.Fprint(stdout, help)
			return nil, flag.ErrHelp
		case len(a) > 1 && a[0] == '-' && (a[1] < '0' || a[1] > '9'): // "-1" is a word, for "migrate down -1" to say N must be positive
			return nil, fmt.Errorf("%w: easel %s takes no flag %s (see easel %s --help)", errUsage, cmd, a, cmd)
		}
		words = append(words, a)
	}
	return words, nil
}

// noArgs refuses the positional arguments given to a command that takes only
// flags, rather than ignore them: "easel serve --role=api worker" must not
// start an API server.
func noArgs(cmd string, fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return unexpectedArg(cmd, fs.Arg(0))
	}
	return nil
}

func unexpectedArg(cmd, arg string) error {
	return fmt.Errorf("%w: unexpected argument %q to easel %s (see easel %s --help)", errUsage, arg, cmd, cmd)
}
