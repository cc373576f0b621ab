package api_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestHostNotAllowedNamesTheListenPort: the refusal of a foreign Host tells
// the developer which loopback URLs work, on the port Easel listens on, not
// on the default 8080 whatever EASEL_ADDR says.
func TestHostNotAllowedNamesTheListenPort(t *testing.T) {
	t.Parallel()
	b := setup(t)

	for _, tt := range []struct {
		name      string
		host      string
		localAddr net.Addr // the connection's, as net/http sets it; nil for none
		want      string
	}{
		{"IPv4 listener", "rebound.evil.example", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9090},
			"such as http://127.0.0.1:9090 or http://localhost:9090"},
		{"IPv6 listener", "rebound.evil.example", &net.TCPAddr{IP: net.IPv6loopback, Port: 9090},
			"such as http://[::1]:9090 or http://localhost:9090"},
		{"listener port over Host port", "rebound.evil.example:8443", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9090},
			"such as http://127.0.0.1:9090 or http://localhost:9090"},
		{"Host port without local address", "rebound.evil.example:7000", nil,
			"such as http://127.0.0.1:7000 or http://localhost:7000"},
		{"no port known", "rebound.evil.example", nil,
			"such as http://127.0.0.1 or http://localhost with the port Easel listens on"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := newRequest(http.MethodGet, "/v1/generations", nil, nil)
			req.Host = tt.host
			if tt.localAddr != nil {
				req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, tt.localAddr))
			}
			rec := httptest.NewRecorder()
			b.echo.ServeHTTP(rec, req)
			resp := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
			require.Equal(t, http.StatusForbidden, resp.status, string(resp.body))
			e := resp.errorBody(t)
			require.Equal(t, "host_not_allowed", e.Code)
			require.Contains(t, e.Message, tt.want)
			if tt.localAddr != nil {
				require.NotContains(t, e.Message, ":8080")
			}
		})
	}
}

// TestHostNotAllowedOnARealListener: net/http supplies the local address
// the message is built from, so a server on a port other than 8080 names
// its own.
func TestHostNotAllowedOnARealListener(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := httptest.NewServer(b.echo)
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)

	req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, srv.URL+"/v1/generations", nil)
	require.NoError(t, err)
	req.Host = "rebound.evil.example"
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	var body struct {
		Error apiError `json:"error"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Equal(t, "host_not_allowed", body.Error.Code)
	require.Contains(t, body.Error.Message, "http://127.0.0.1:"+port+" or http://localhost:"+port)
}
