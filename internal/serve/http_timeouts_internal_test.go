package serve

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
)

// TestHTTPServerClosesStalledConnections shortens one timeout at a time, the
// others set long enough never to fire, and has a client stop sending
// partway: the server must close the connection rather than wait for it.
func TestHTTPServerClosesStalledConnections(t *testing.T) {
	t.Parallel()
	const short, long = 100 * time.Millisecond, time.Hour
	tests := []struct {
		name     string
		timeouts httpTimeouts
		// stall sends what the client sends before it stops.
		stall func(t *testing.T, conn net.Conn)
	}{
		{
			name:     "body trickled",
			timeouts: httpTimeouts{readHeader: long, read: short, idle: long},
			stall: func(t *testing.T, conn net.Conn) {
				_, err := io.WriteString(conn, "POST /v1/generations HTTP/1.1\r\nHost: easel\r\nContent-Type: application/json\r\n"+
					"Content-Length: 8388608\r\n\r\n{\"prompt\": \"a")
				require.NoError(t, err)
			},
		},
		{
			name:     "headers trickled",
			timeouts: httpTimeouts{readHeader: short, read: long, idle: long},
			stall: func(t *testing.T, conn net.Conn) {
				_, err := io.WriteString(conn, "POST /webhooks/fal/x HTTP/1.1\r\nHost: easel\r\n")
				require.NoError(t, err)
			},
		},
		{
			name:     "idle keep-alive",
			timeouts: httpTimeouts{readHeader: long, read: long, idle: short},
			stall: func(t *testing.T, conn net.Conn) {
				_, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: easel\r\n\r\n")
				require.NoError(t, err)
				resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
				require.NoError(t, err)
				require.NoError(t, resp.Body.Close())
				require.Equal(t, http.StatusOK, resp.StatusCode)
				require.False(t, resp.Close, "the connection is kept alive after the response")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Reads the whole body, as the API's and the webhook
			// receiver's handlers do.
			handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if _, err := io.ReadAll(r.Body); err != nil {
					http.Error(w, "body unreadable", http.StatusBadRequest)
				}
			})
			listener, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			server := newHTTPServer(handler, tt.timeouts)
			served := make(chan error, 1)
			go func() { served <- server.Serve(listener) }()
			t.Cleanup(func() {
				require.NoError(t, server.Close())
				require.ErrorIs(t, <-served, http.ErrServerClosed)
			})

			conn, err := net.Dial("tcp", listener.Addr().String())
			require.NoError(t, err)
			t.Cleanup(func() { conn.Close() })
			tt.stall(t, conn)

			// Only a guard against the test hanging: the server should
			// close the connection after a fraction of it.
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(time.Minute)))
			_, err = io.Copy(io.Discard, conn)
			require.NoError(t, err, "the server closes the connection (io.Copy stops at EOF), not the client's deadline")
		})
	}
}

// TestDefaultHTTPTimeouts guards the defaults against the changes that
// would reopen a hole or break a documented request.
func TestDefaultHTTPTimeouts(t *testing.T) {
	t.Parallel()
	server := newHTTPServer(http.NotFoundHandler(), defaultHTTPTimeouts)
	require.Positive(t, server.ReadHeaderTimeout)
	require.Positive(t, server.ReadTimeout, "a body cannot be trickled for ever")
	require.Positive(t, server.IdleTimeout, "idle keep-alive connections are closed")
	if server.WriteTimeout != 0 {
		require.Greater(t, server.WriteTimeout, api.MaxWait, "a ?wait long-poll outlives no write timeout")
	}
}
