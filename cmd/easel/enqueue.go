package main

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/easelhq/easel/internal/enqueuecli"
)

func enqueueCmd(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	err := enqueuecli.Run(ctx, args, enqueuecli.Env{
		Stdin:    os.Stdin,
		Stdout:   stdout,
		Stderr:   os.Stderr,
		Getenv:   getenv,
		Terminal: isTerminal(os.Stderr) && os.Getenv("TERM") != "dumb",
		// Where easel serve, run with the same environment, is reached, as
		// easel keys create prints it.
		Server: apiBaseURL(getenv),
	})
	if errors.Is(err, enqueuecli.ErrInvalidInput) {
		return usageError{err}
	}
	return err
}

// usageError makes err exit with status 2, printed as it is.
type usageError struct{ error }

func (e usageError) Is(target error) bool { return target == errUsage }
func (e usageError) Unwrap() error        { return e.error }

func isTerminal(f *os.File) bool {
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
