// Command easel runs Easel: durable, accountable fal.ai image generation
// jobs in PostgreSQL. See README.md.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/easelhq/easel/internal/serve"
)

const usage = `usage: easel <command> [flags]

Easel: durable fal.ai image generation jobs in PostgreSQL.

commands:
  serve        API, webhook receiver and workers (--role all|api|worker)
  migrate      up | down [N] | version | force V
  sim          the fal simulator as its own server
  enqueue      enqueue a generation from the shell (--prompt, --image-url, --wait)
  keys         create NAME | list | revoke NAME | callback-secret NAME: API keys
  bench        end-to-end benchmark against the in-process simulator (docs/BENCHMARKS.md)
  healthcheck  probe /readyz (for container healthchecks)
  version      this binary's version, Go version and schema version (also --version)

Run easel <command> --help for a command's flags, arguments and the
environment variables it reads. Configuration comes from the environment
(DATABASE_URL, EASEL_ADDR, FAL_KEY, ...); README.md's Configuration table
lists every variable.
`

// errUsage marks errors caused by how the command was called (exit code 2):
// its arguments, or a bad environment variable, which README's
// Configuration counts as the same.
var errUsage = errors.New("usage")

// usageError makes err exit with status 2, printed as it is.
type usageError struct{ error }

func (e usageError) Is(target error) bool { return target == errUsage }
func (e usageError) Unwrap() error        { return e.error }

// exitError is err with the exit code its command chose: easel enqueue's.
type exitError struct {
	code int
	error
}

func (e exitError) Unwrap() error { return e.error }

// signalError is the cause of main's context once a signal came: a command
// that it interrupts exits 128 plus the signal's number, as a shell reports
// a process the signal killed.
type signalError struct{ sig syscall.Signal }

func (e signalError) Error() string {
	names := map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}
	return "interrupted by " + cmp.Or(names[e.sig], e.sig.String())
}

func (e signalError) ExitCode() int { return 128 + int(e.sig) }

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-signals
		// The first signal starts a graceful shutdown; restoring the default
		// handling then lets a second one stop the process at once, for an
		// operator who will not wait for it.
		signal.Stop(signals)
		cancel(signalError{sig.(syscall.Signal)})
	}()
	logger := func() (*slog.Logger, error) {
		logger, err := newLogger(os.Getenv, os.Stderr)
		if err == nil {
			// Packages without a logger of their own (jobs.EnqueuePool's
			// wake-up of the workers) log through the default.
			slog.SetDefault(logger)
		}
		return logger, err
	}
	code := exitCode(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv, logger), os.Stderr)
	os.Exit(code)
}

// exitCode prints err, if any, and returns the status to exit with: 0 for
// success and for help, the code an exitError carries, 2 for a usage error
// or a bad setting (serve.ErrConfig), 1 for any other error. The error of a
// command that logs (logLineError) is one more JSON log line, at ERROR; any
// other, a line for whoever typed the command.
func exitCode(err error, stderr io.Writer) int {
	code := 1
	var exit exitError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &exit):
		code = exit.code
	case errors.Is(err, errUsage), errors.Is(err, serve.ErrConfig):
		code = 2
	}
	var logged logLineError
	if errors.As(err, &logged) {
		// Through a logger of its own: the command's may not exist, when
		// EASEL_LOG_LEVEL is the error. ERROR passes every level.
		slog.New(jsonHandler(stderr, slog.LevelError)).Error("easel "+logged.cmd+" failed", "error", logged.error, "exit_code", code)
		return code
	}
	fmt.Fprintln(stderr, "easel:", err)
	return code
}

// logLineError is the error of a command whose standard error is a stream
// of JSON log lines, for log pipelines to read: easel serve's. A line of
// text, which a pipeline would keep as a message without a level or split
// at each line of a multi-line error, would lose the one line saying why
// the process stopped.
type logLineError struct {
	cmd string
	error
}

func (e logLineError) Unwrap() error { return e.error }

// asLogLine makes err, cmd's error, a logLineError; help, or no error,
// stays as it is.
func asLogLine(cmd string, err error) error {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return logLineError{cmd: cmd, error: err}
}

// loggerFunc returns the logger EASEL_LOG_LEVEL configures, or an error
// naming the variable. Commands call it once their arguments ask for no
// help, so that help never depends on the environment.
type loggerFunc func() (*slog.Logger, error)

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string, logger loggerFunc) error {
	if len(args) == 0 || isHelp(args[0]) || (args[0] == "help" && (len(args) == 1 || args[1] == "help")) {
		fmt.Fprint(stdout, usage)
		return nil
	}
	if args[0] == "help" {
		// "easel help enqueue" is "easel enqueue --help"; an unknown
		// command is refused as it is without help.
		if len(args) > 2 {
			return usageError{fmt.Errorf("unexpected argument %q to easel help, which takes one command; run 'easel --help' for usage", args[2])}
		}
		args = []string{args[1], "--help"}
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "serve":
		return asLogLine("serve", serveCmd(ctx, args, stdout, getenv, logger))
	case "migrate":
		return migrateCmd(ctx, args, stdout, getenv, logger)
	case "sim":
		return simCmd(ctx, args, stdout, logger)
	case "enqueue":
		return enqueueCmd(ctx, args, stdout, stderr, getenv, logger)
	case "keys":
		return keysCmd(ctx, args, stdout, stderr, getenv, logger)
	case "bench":
		return benchCmd(ctx, args, stdout, getenv, logger)
	case "healthcheck":
		return healthcheckCmd(ctx, args, stdout, getenv, logger)
	case "version", "--version", "-version":
		return versionCmd(args, stdout)
	default:
		return usageError{fmt.Errorf("unknown command %q; run 'easel --help' for usage", cmd)}
	}
}

func databaseURL(getenv func(string) string) string {
	if u := getenv("DATABASE_URL"); u != "" {
		return u
	}
	return serve.DefaultDatabaseURL
}

// apiBaseURL is the base URL at which easel serve, run with the same
// environment, is reached: EASEL_PUBLIC_URL when set, else the listen
// address EASEL_ADDR as a process on this host dials it (serve.LocalURL).
// Its error names the variable that gave it, and exits 2.
func apiBaseURL(getenv func(string) string) (string, error) {
	if public := strings.TrimRight(strings.TrimSpace(getenv("EASEL_PUBLIC_URL")), "/"); public != "" {
		// As easel serve refuses it.
		if u, err := url.Parse(public); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", usageError{fmt.Errorf("EASEL_PUBLIC_URL: %q is not an http(s) URL", public)}
		}
		return public, nil
	}
	return localBaseURL(getenv)
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
			return nil, usageError{fmt.Errorf("%s takes no flag %s; %s", cmd, a, seeHelp(cmd))}
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
	return usageError{fmt.Errorf("unexpected argument %q to easel %s; %s", arg, cmd, seeHelp(cmd))}
}
