package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// easel sim's stdout is a shell script: sourced, it sets the variables that
// point easel serve at the simulator, and its comments say the rest.
func TestSimStdoutIsSourceable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	out, in := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"sim", "--addr", "127.0.0.1:0"}, in, io.Discard, func(string) string { return "" }, func() (*slog.Logger, error) {
			return newLogger(func(string) string { return "" }, io.Discard)
		})
		in.Close()
	}()

	var script strings.Builder
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		script.WriteString(lines.Text() + "\n")
		if strings.HasPrefix(lines.Text(), "# faults: ") {
			break
		}
	}
	cancel()
	go func() { _, _ = io.Copy(io.Discard, out) }()
	require.NoError(t, <-done)

	for line := range strings.Lines(script.String()) {
		require.Regexp(t, `^(# |export [A-Z_]+=)`, line)
	}
	require.Regexp(t, `(?m)^# fal simulator listening on http://127\.0\.0\.1:\d+$`, script.String())
	file := filepath.Join(t.TempDir(), "sim.env")
	require.NoError(t, os.WriteFile(file, []byte(script.String()), 0o600))
	got, err := exec.Command("sh", "-c", `. "$1" && echo "$FAL_QUEUE_URL $FAL_JWKS_URL $FAL_KEY"`, "sh", file).Output()
	require.NoError(t, err)
	fields := strings.Fields(string(got))
	require.Len(t, fields, 3)
	require.Regexp(t, `^http://127\.0\.0\.1:\d+$`, fields[0])
	require.Equal(t, fields[0]+"/.well-known/jwks.json", fields[1])
	require.Equal(t, "sim", fields[2])
}

func TestShellQuote(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://127.0.0.1:9090":                 "http://127.0.0.1:9090",
		"http://[::1]:9090":                     "'http://[::1]:9090'",
		"http://sim:9090/.well-known/jwks.json": "http://sim:9090/.well-known/jwks.json",
		"it's":                                  `'it'\''s'`,
	} {
		require.Equal(t, want, shellQuote(in), in)
	}
}
