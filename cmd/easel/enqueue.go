package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"

	"github.com/easelhq/easel/internal/enqueuecli"
)

var enqueueHelp = help{
	usage: "enqueue [flags]",
	about: `Enqueues a fal-ai/fooocus/image-prompt generation on an Easel server over its
HTTP API. Flags set the common fields; --json gives the whole input, and
flags override it. It prints the generation's id on stdout; with --wait it
shows the progress on stderr and prints the image URLs on stdout.`,
	env: [][2]string{
		{"EASEL_API_KEY", "the API key sent as Bearer (easel keys create prints one); needed\nonce any key exists"},
		{"EASEL_PUBLIC_URL", "--server's default when set"},
		{"EASEL_ADDR", "else --server's default: this listen address as this host reaches it\n(0.0.0.0 becomes 127.0.0.1; unset, 127.0.0.1:8080)"},
		{"EASEL_LOG_LEVEL", "checked as for every command"},
	},
}

func enqueueCmd(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string, logger loggerFunc) error {
	err := enqueuecli.Run(ctx, args, enqueuecli.Env{
		Stdin:    os.Stdin,
		Stdout:   stdout,
		Stderr:   os.Stderr,
		Getenv:   getenv,
		Terminal: isTerminal(os.Stderr) && os.Getenv("TERM") != "dumb",
		// Where easel serve, run with the same environment, is reached, as
		// easel keys create prints it.
		Server:   apiBaseURL(getenv),
		Help:     func(fs *flag.FlagSet) { enqueueHelp.write(stdout, fs) },
		CheckEnv: func() error { _, err := logger(); return err },
	})
	if errors.Is(err, enqueuecli.ErrInvalidInput) {
		return usageError{err}
	}
	return err
}

func isTerminal(f *os.File) bool {
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
