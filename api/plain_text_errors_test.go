package api_test

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPlainTextErrorsBeforeEasel: the two errors openapi.yaml and docs/API.md
// say net/http answers before Easel sees the request are plain text, not
// Easel's JSON: a path that is not valid URL encoding (400) and a request
// line and headers over the server's limit (431).
func TestPlainTextErrorsBeforeEasel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := httptest.NewUnstartedServer(b.echo)
	srv.Config.MaxHeaderBytes = 1 << 10 // net/http allows 4 KiB more
	srv.Start()
	t.Cleanup(srv.Close)

	for _, tt := range []struct {
		name, request string
		wantStatus    int
	}{
		{name: "path not URL encoding", request: "GET /v1/generations/%zz HTTP/1.1\r\nHost: " + testHost + "\r\n\r\n",
			wantStatus: http.StatusBadRequest},
		{name: "headers too large", request: "GET /v1/generations HTTP/1.1\r\nHost: " + testHost + "\r\nX-Pad: " + repeat("a", 8<<10) + "\r\n\r\n",
			wantStatus: http.StatusRequestHeaderFieldsTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			require.NoError(t, err)
			t.Cleanup(func() { _ = conn.Close() })
			_, err = conn.Write([]byte(tt.request))
			require.NoError(t, err)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			require.NoError(t, err)
			t.Cleanup(func() { _ = resp.Body.Close() })
			require.Equal(t, tt.wantStatus, resp.StatusCode)
			require.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
		})
	}

	description := oneLine(b.doc.Info.Description)
	require.Contains(t, description, "`431 Request Header Fields Too Large`")
	require.Contains(t, description, "`400 Bad Request` for a path that is not valid URL encoding, such as `/v1/generations/%zz`")
}
