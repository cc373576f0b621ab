package enqueuecli_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/enqueuecli"
)

// Help goes to stdout, through Env.Help when set, and nothing else runs:
// not the caller's checks of the environment, not a request.
func TestEnqueueHelp(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		withHelp bool
		want     string // stdout's beginning
	}{
		{name: "Env.Help", withHelp: true, want: "the caller's help\n  -aspect-ratio"},
		{name: "flags alone", want: "  -aspect-ratio"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			env := enqueuecli.Env{
				Stdout:   &stdout,
				Stderr:   &stderr,
				Getenv:   func(string) string { return "" },
				CheckEnv: func() error { t.Error("CheckEnv ran for --help"); return nil },
			}
			if tt.withHelp {
				env.Help = func(fs *flag.FlagSet) {
					stdout.WriteString("the caller's help\n")
					fs.SetOutput(&stdout)
					fs.PrintDefaults()
				}
			}
			err := enqueuecli.Run(context.Background(), []string{"--prompt", "x", "--help"}, env)
			require.ErrorIs(t, err, flag.ErrHelp)
			require.True(t, strings.HasPrefix(stdout.String(), tt.want), stdout.String())
			require.Contains(t, stdout.String(), "  -server URL\n")
			require.Empty(t, stderr.String())
		})
	}
}

// A bad flag is an error of one line, printed by nobody but the caller.
func TestEnqueueBadFlag(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	err := enqueuecli.Run(context.Background(), []string{"--num-images", "four"}, enqueuecli.Env{
		Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" },
	})
	require.ErrorIs(t, err, enqueuecli.ErrInvalidInput)
	require.EqualError(t, err, `invalid value "four" for flag -num-images: parse error; run 'easel enqueue --help' for usage`)
	require.Empty(t, stdout.String())
	require.Empty(t, stderr.String())
}

// The caller's checks of the environment run once the flags are read, and
// their error stops the command before it sends anything.
func TestEnqueueCheckEnvStopsFirst(t *testing.T) {
	t.Parallel()
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests.Add(1) }))
	t.Cleanup(srv.Close)
	envErr := errors.New("EASEL_LOG_LEVEL: \"verbose\" is not one of debug, info, warn, error")

	err := enqueuecli.Run(context.Background(), []string{"--server", srv.URL, "--prompt", "x"}, enqueuecli.Env{
		Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" },
		CheckEnv: func() error { return envErr },
	})
	require.ErrorIs(t, err, envErr)
	require.NotErrorIs(t, err, enqueuecli.ErrInvalidInput)
	require.Zero(t, requests.Load())
}

// A 401 says what to do from this command, besides the server's own
// message, which speaks to any HTTP client.
func TestEnqueueUnauthorizedNamesEASELAPIKEY(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error": {"code": "unauthorized", "message": "an API key is required: send it in the header Authorization: Bearer followed by the key"}}`))
	}))
	t.Cleanup(srv.Close)

	for _, tt := range []struct {
		name, key, want string
	}{
		{name: "no key", want: "easel enqueue sends the API key in EASEL_API_KEY, which is not set: set it to the key easel keys create printed"},
		{name: "a refused key", key: "esl_revoked", want: "the API key in EASEL_API_KEY was refused: set EASEL_API_KEY to an active key of this server"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := enqueuecli.Run(context.Background(), []string{"--server", srv.URL, "--prompt", "x"}, enqueuecli.Env{
				Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{},
				Getenv: func(name string) string {
					if name == "EASEL_API_KEY" {
						return tt.key
					}
					return ""
				},
			})
			var apiErr *enqueuecli.APIError
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, http.StatusUnauthorized, apiErr.Status)
			require.Contains(t, err.Error(), "server answered 401 unauthorized: an API key is required")
			require.Contains(t, err.Error(), "\n"+tt.want, "on a line of its own")
			if tt.key != "" {
				require.NotContains(t, err.Error(), tt.key, "the key itself is never printed")
			}
		})
	}
}
