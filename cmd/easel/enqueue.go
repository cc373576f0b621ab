package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"

	"github.com/easelhq/easel/internal/enqueuecli"
	"github.com/easelhq/easel/internal/serve"
)

var enqueueHelp = help{
	usage: "enqueue [flags]",
	about: `Enqueues a fal-ai/fooocus/image-prompt generation on an Easel server over its
HTTP API. Flags set the common fields; --json gives the whole input, and
flags override it. It prints the generation's id on stdout; with --wait it
shows the progress on stderr and prints the image URLs on stdout. With
--output json, stdout gets the generation as the API returns it instead,
also when it failed or the wait was cut short.`,
	env: [][2]string{
		{"EASEL_API_KEY", "the API key sent as Bearer (easel keys create prints one); needed\nonce any key exists"},
		{"EASEL_PUBLIC_URL", "--server's default when set"},
		{"EASEL_ADDR", "else --server's default: this listen address as this host reaches it\n(0.0.0.0 becomes 127.0.0.1; unset, 127.0.0.1:8080)"},
		{"EASEL_LOG_LEVEL", "checked as for every command"},
	},
	footer: `exit codes:
  0    completed; without --wait, enqueued
  1    the generation failed or was cancelled; or the server's answer was not
       the API's
  2    a usage error, a bad environment variable, or a request the server
       refused as invalid (400, 413, 422): change it before running it again
  3    no definite answer: the server could not be reached, did not answer in
       time, answered 408, 429 or 5xx, or --timeout passed; running the command
       again with the same --idempotency-key is safe
  4    refused: 401, 403, 404, 409 idempotency_conflict
  130  interrupted by SIGINT while enqueueing or waiting (143: SIGTERM); the
       generation goes on`,
}

func enqueueCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string, logger loggerFunc) error {
	// Where easel serve, run with the same environment, is reached, as
	// easel keys create prints it; refused only if --server is not given.
	server, serverErr := apiBaseURL(getenv)
	err := enqueuecli.Run(ctx, args, enqueuecli.Env{
		Stdin:     os.Stdin,
		Stdout:    stdout,
		Stderr:    stderr,
		Getenv:    getenv,
		Terminal:  stderr == os.Stderr && isTerminal(os.Stderr) && os.Getenv("TERM") != "dumb",
		Server:    server,
		ServerErr: serverErr,
		Help:      func(fs *flag.FlagSet) { enqueueHelp.write(stdout, fs) },
		CheckEnv:  func() error { _, err := logger(); return err },
	})
	if err == nil || errors.Is(err, flag.ErrHelp) || errors.Is(err, errUsage) || errors.Is(err, serve.ErrConfig) {
		// A bad environment variable exits 2, as for every command.
		return err
	}
	return exitError{code: enqueuecli.ExitCode(err), error: err}
}

func isTerminal(f *os.File) bool {
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
