package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeEasel answers POST /v1/generations and GET /readyz as easel serve
// does, and counts the requests to each.
func fakeEasel(t *testing.T, readyStatus int) (addr string, hits chan string) {
	t.Helper()
	hits = make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits <- r.Method + " " + r.URL.Path
		switch r.URL.Path {
		case "/v1/generations":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"id": "gen-1", "status": "queued"}`))
		case "/readyz":
			w.WriteHeader(readyStatus)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	return u.Host, hits
}

// refusing is an address nothing listens on.
const refusing = "127.0.0.1:1"

// easel enqueue reaches the server easel keys create names: EASEL_PUBLIC_URL,
// else EASEL_ADDR as dialled from this host.
func TestEnqueueDefaultServerFromEnvironment(t *testing.T) {
	t.Parallel()
	addr, hits := fakeEasel(t, http.StatusOK)
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)

	for _, tt := range []struct {
		name string
		env  map[string]string
	}{
		{"EASEL_ADDR", map[string]string{"EASEL_ADDR": addr}},
		{"unspecified EASEL_ADDR", map[string]string{"EASEL_ADDR": "0.0.0.0:" + port}},
		{"EASEL_PUBLIC_URL over EASEL_ADDR", map[string]string{"EASEL_PUBLIC_URL": "http://" + addr + "/", "EASEL_ADDR": refusing}},
	} {
		code, stdout, stderr := easel(t, context.Background(), tt.env, "enqueue", "--prompt", "x", "--image-url", "https://example.com/a.png")
		require.Zero(t, code, "%s: %s", tt.name, stderr)
		require.Equal(t, "gen-1\n", stdout, tt.name)
		require.Equal(t, "POST /v1/generations", <-hits, tt.name)
	}

	// --server still wins over the environment.
	code, _, stderr := easel(t, context.Background(), map[string]string{"EASEL_PUBLIC_URL": "http://" + refusing},
		"enqueue", "--server", "http://"+addr, "--prompt", "x", "--image-url", "https://example.com/a.png")
	require.Zero(t, code, stderr)
	require.Equal(t, "POST /v1/generations", <-hits)
}

// easel enqueue exits with its own codes: 4 for a generation the server
// says does not exist while waiting, as for any refusal.
func TestEnqueueExitCodeRefused(t *testing.T) {
	t.Parallel()
	addr, hits := fakeEasel(t, http.StatusOK)
	code, stdout, stderr := easel(t, context.Background(), map[string]string{"EASEL_ADDR": addr},
		"enqueue", "--prompt", "x", "--image-url", "https://example.com/a.png", "--wait")
	require.Equal(t, 4, code, stderr)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "easel: get generation gen-1: server answered 404 http_error: Not Found\n")
	require.Equal(t, "POST /v1/generations", <-hits)
	require.Equal(t, "GET /v1/generations/gen-1", <-hits)
}

// A signal ends a command with 128 plus its number, as a shell reports it.
func TestSignalExitCode(t *testing.T) {
	t.Parallel()
	require.Equal(t, 130, signalError{syscall.SIGINT}.ExitCode())
	require.Equal(t, 143, signalError{syscall.SIGTERM}.ExitCode())
	require.EqualError(t, signalError{syscall.SIGTERM}, "interrupted by SIGTERM")

	addr, _ := fakeEasel(t, http.StatusOK)
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(signalError{syscall.SIGTERM})
	code, _, stderr := easel(t, ctx, map[string]string{"EASEL_ADDR": addr}, "enqueue", "--prompt", "x", "--wait")
	require.Equal(t, 143, code, stderr)
	require.Contains(t, stderr, "easel: enqueue: interrupted by SIGTERM before the server answered")
}

// A default the environment makes unusable is blamed on the variable that
// made it; --server, given, makes the environment's default irrelevant.
func TestEnqueueBadDefaultServer(t *testing.T) {
	t.Parallel()
	addr, hits := fakeEasel(t, http.StatusOK)
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"EASEL_PUBLIC_URL", map[string]string{"EASEL_PUBLIC_URL": "easel.example.com", "EASEL_ADDR": addr},
			`easel: EASEL_PUBLIC_URL: "easel.example.com" is not an http(s) URL; fix it, or give --server`},
		{"EASEL_ADDR", map[string]string{"EASEL_ADDR": "bogus"}, `easel: EASEL_ADDR: "bogus": not host:port; fix it, or give --server`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := easel(t, cancelled(), tt.env, "enqueue", "--prompt", "x", "--image-url", "https://example.com/a.png")
			require.Equal(t, 2, code, stderr)
			require.Empty(t, stdout)
			require.Equal(t, tt.want+"\n", stderr)
		})
	}

	code, stdout, stderr := easel(t, context.Background(), map[string]string{"EASEL_PUBLIC_URL": "nope", "EASEL_ADDR": "bogus"},
		"enqueue", "--server", "http://"+addr, "--prompt", "x", "--image-url", "https://example.com/a.png")
	require.Zero(t, code, stderr)
	require.Equal(t, "gen-1\n", stdout)
	require.Equal(t, "POST /v1/generations", <-hits)
}

// easel healthcheck probes this host's easel serve at EASEL_ADDR, and never
// EASEL_PUBLIC_URL, which may name other processes.
func TestHealthcheckDefaultURLFromEnvironment(t *testing.T) {
	t.Parallel()
	ready, readyHits := fakeEasel(t, http.StatusOK)
	unready, unreadyHits := fakeEasel(t, http.StatusServiceUnavailable)

	for _, tt := range []struct {
		name     string
		env      map[string]string
		wantCode int
		hits     chan string
	}{
		{"ready", map[string]string{"EASEL_ADDR": ready}, 0, readyHits},
		{"ready, public URL elsewhere", map[string]string{"EASEL_ADDR": ready, "EASEL_PUBLIC_URL": "http://" + unready}, 0, readyHits},
		{"unready", map[string]string{"EASEL_ADDR": unready, "EASEL_PUBLIC_URL": "http://" + ready}, 1, unreadyHits},
	} {
		code, _, stderr := easel(t, context.Background(), tt.env, "healthcheck")
		require.Equal(t, tt.wantCode, code, "%s: %s", tt.name, stderr)
		require.Equal(t, "GET /readyz", <-tt.hits, tt.name)
	}
	require.Empty(t, readyHits)
	require.Empty(t, unreadyHits)
}

// --url given, EASEL_ADDR is not read.
func TestHealthcheckURLOverridesBadEASELADDR(t *testing.T) {
	t.Parallel()
	ready, hits := fakeEasel(t, http.StatusOK)
	code, _, stderr := easel(t, context.Background(), map[string]string{"EASEL_ADDR": "bogus"}, "healthcheck", "--url", "http://"+ready+"/readyz")
	require.Zero(t, code, stderr)
	require.Equal(t, "GET /readyz", <-hits)
}

func TestHealthcheckUnreachable(t *testing.T) {
	t.Parallel()
	code, _, stderr := easel(t, context.Background(), map[string]string{"EASEL_ADDR": refusing}, "healthcheck")
	require.Equal(t, 1, code)
	require.True(t, strings.HasPrefix(stderr, "easel: healthcheck http://"+refusing+"/readyz: "), stderr)
}

// A flag value that the simulator's Config would read as "the default" is
// refused, naming the flag, rather than quietly replaced.
func TestSimRefusesValuesThatMeanDefault(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--time-scale", "0"}, `invalid value "0" for flag -time-scale: must be more than 0`},
		{[]string{"--webhook-timeout", "0s"}, `invalid value "0s" for flag -webhook-timeout: must be more than 0`},
		{[]string{"--user-id", ""}, `invalid value "" for flag -user-id: must not be empty`},
		{[]string{"--addr", ""}, `invalid value "" for flag -addr: not host:port`},
		{[]string{"--addr", "9090"}, `invalid value "9090" for flag -addr: not host:port`},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := easel(t, cancelled(), nil, append([]string{"sim"}, tt.args...)...)
			require.Equal(t, 2, code, stderr)
			require.Contains(t, stderr, tt.want)
			require.Empty(t, stdout, "the simulator never started")
		})
	}
}
