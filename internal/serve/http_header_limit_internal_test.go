package serve

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A request's headers are read whole before any handler runs, a webhook's
// before its signature is checked: easel serve admits maxHeaderBytes of
// them, not net/http's 1 MiB, and leaves room for generous real ones.
func TestHTTPServerBoundsRequestHeaders(t *testing.T) {
	t.Parallel()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	server := newHTTPServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), defaultHTTPTimeouts)
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	t.Cleanup(func() {
		require.NoError(t, server.Close())
		require.ErrorIs(t, <-served, http.ErrServerClosed)
	})

	for _, tt := range []struct {
		name   string
		header int
		want   int
	}{
		{name: "large cookie and proxy headers", header: 16 << 10, want: http.StatusOK},
		{name: "over the limit", header: 2 * maxHeaderBytes, want: http.StatusRequestHeaderFieldsTooLarge},
	} {
		req, err := http.NewRequest(http.MethodPost, "http://"+listener.Addr().String()+"/webhooks/fal/x", nil)
		require.NoError(t, err)
		req.Header.Set("X-Padding", strings.Repeat("p", tt.header))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err, tt.name)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, tt.want, resp.StatusCode, tt.name)
	}
}
