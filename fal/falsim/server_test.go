package falsim_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
)

func TestStart(t *testing.T) {
	t.Parallel()

	ctx, cancel := context.WithCancel(t.Context())
	srv, err := falsim.Start(ctx, "127.0.0.1:0", falsim.Config{})
	require.NoError(t, err)
	t.Cleanup(srv.Close)

	require.Regexp(t, `^http://127\.0\.0\.1:\d+$`, srv.URL)
	require.Equal(t, srv.URL, srv.QueueURL())
	require.Equal(t, srv.URL+"/.well-known/jwks.json", srv.JWKSURL())

	resp, body := doRequest(t, http.MethodPost, srv.QueueURL()+"/fal-ai/fooocus/image-prompt", validInput, testKey)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), `"status_url":"`+srv.URL+"/fal-ai/fooocus/requests/")

	resp, _ = doRequest(t, http.MethodGet, srv.JWKSURL(), "", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)

	cancel()
	srv.Close() // also closed by ctx: closing twice is fine
	_, err = http.Get(srv.URL + "/_sim/stats")
	require.Error(t, err, "the listener is closed")
}

func TestStartRejectsBadInput(t *testing.T) {
	t.Parallel()

	_, err := falsim.Start(t.Context(), "127.0.0.1:0", falsim.Config{FailRate: 2})
	require.ErrorContains(t, err, "FailRate")

	_, err = falsim.Start(t.Context(), "not-an-address", falsim.Config{})
	require.ErrorContains(t, err, "listen")
}

func TestRun(t *testing.T) {
	t.Parallel()

	ctx, cancel := context.WithCancel(t.Context())
	out, banner := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- falsim.Run(ctx, "127.0.0.1:0", falsim.Config{Seed: 3, FailRate: 0.25}, banner)
	}()

	var printed strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(printed.String(), "faults:") || !strings.HasSuffix(printed.String(), "\n") {
		n, err := out.Read(buf)
		require.NoError(t, err)
		printed.Write(buf[:n])
	}
	text := printed.String()
	queueURL := regexp.MustCompile(`FAL_QUEUE_URL=(http://127\.0\.0\.1:\d+)\n`).FindStringSubmatch(text)
	require.NotNil(t, queueURL, text)
	require.Contains(t, text, "FAL_JWKS_URL="+queueURL[1]+"/.well-known/jwks.json\n")
	require.Contains(t, text, "FAL_KEY=")
	require.Contains(t, text, "seed=3 ")
	require.Contains(t, text, "fail=25%")

	resp, _ := doRequest(t, http.MethodGet, queueURL[1]+"/.well-known/jwks.json", "", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)

	cancel()
	require.NoError(t, <-done)
}
