package serve_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
)

// roundTrip sends one request without following redirects and returns the
// response with its whole body.
func (b *testBundle) roundTrip(t *testing.T, method, path string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(b.ctx, method, b.baseURL+path, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// TestHeadLikeGet: every path that answers GET answers HEAD with the same
// status and headers and no body, on the API, the operations endpoints and
// the gallery, whose sign-in redirect included.
func TestHeadLikeGet(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.enqueue(t, exampleInput)

	html := http.Header{"Accept": {"text/html"}}
	type check struct {
		path       string
		header     http.Header
		wantStatus int
		// sameLength: the body is the same at every request, so
		// Content-Length must be too.
		sameLength bool
	}
	compare := func(c check) {
		t.Helper()
		get, getBody := b.roundTrip(t, http.MethodGet, c.path, c.header)
		head, headBody := b.roundTrip(t, http.MethodHead, c.path, c.header)
		require.Equal(t, c.wantStatus, get.StatusCode, "GET %s: %s", c.path, getBody)
		require.Equal(t, get.StatusCode, head.StatusCode, c.path)
		require.Empty(t, headBody, "HEAD %s", c.path)
		for _, name := range []string{"Content-Type", "Location", "Allow", "WWW-Authenticate", "Cache-Control"} {
			require.Equal(t, get.Header.Get(name), head.Header.Get(name), "%s of %s", name, c.path)
		}
		if c.wantStatus != http.StatusSeeOther {
			require.NotEmpty(t, getBody, "GET %s", c.path)
		}
		if c.sameLength {
			require.Equal(t, get.Header.Get("Content-Length"), head.Header.Get("Content-Length"), c.path)
		}
	}

	// Open: no key exists and the listener is loopback.
	for _, c := range []check{
		{"/healthz", nil, http.StatusOK, true},
		{"/readyz", nil, http.StatusOK, true},
		{"/openapi.yaml", nil, http.StatusOK, true},
		{"/metrics", nil, http.StatusOK, false},
		{"/v1/generations/" + g.ID, nil, http.StatusOK, false},
		{"/v1/generations/" + uuid.NewString(), nil, http.StatusNotFound, true},
		{"/v1/generations?limit=1", nil, http.StatusOK, false},
		{"/", html, http.StatusOK, false},
		{"/generations/" + g.ID, html, http.StatusOK, false},
		{"/login", html, http.StatusOK, true},
		{"/nothing", nil, http.StatusNotFound, true},
	} {
		compare(c)
	}

	// Closed: the gallery sends a browser to sign in, the API wants a key.
	_, _, err := api.CreateKey(b.ctx, b.pool, "head")
	require.NoError(t, err)
	for _, c := range []check{
		{"/", html, http.StatusSeeOther, false}, // HEAD has no Content-Length: 0; net/http omits it
		{"/v1/generations/" + g.ID, nil, http.StatusUnauthorized, true},
		{"/healthz", nil, http.StatusOK, true},
	} {
		compare(c)
	}
}

// TestWrongMethod: outside /v1 as inside it, a path asked with a method it
// does not serve is a 405 method_not_allowed with Allow, OPTIONS a 204 with
// Allow, and an unknown path a 404 whatever the method.
func TestWrongMethod(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := uuid.NewString()

	tests := []struct {
		method, path string
		wantStatus   int
		wantAllow    string
	}{
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed, "OPTIONS, GET, HEAD"},
		{http.MethodDelete, "/readyz", http.StatusMethodNotAllowed, "OPTIONS, GET, HEAD"},
		{http.MethodDelete, "/metrics", http.StatusMethodNotAllowed, "OPTIONS, GET, HEAD"},
		{http.MethodPut, "/openapi.yaml", http.StatusMethodNotAllowed, "OPTIONS, GET, HEAD"},
		{http.MethodPut, "/", http.StatusMethodNotAllowed, "OPTIONS, GET, HEAD"},
		{http.MethodPost, "/generations/" + id, http.StatusMethodNotAllowed, "OPTIONS, GET, HEAD"},
		{http.MethodDelete, "/login", http.StatusMethodNotAllowed, "OPTIONS, GET, HEAD, POST"},
		{http.MethodGet, "/logout", http.StatusMethodNotAllowed, "OPTIONS, POST"},
		{http.MethodGet, "/webhooks/fal/" + id, http.StatusMethodNotAllowed, "OPTIONS, POST"},
		{http.MethodHead, "/webhooks/fal/" + id, http.StatusMethodNotAllowed, "OPTIONS, POST"},
		{http.MethodPost, "/_sim/files/64x64/0/a.png", http.StatusMethodNotAllowed, "OPTIONS, GET, HEAD"},
		{http.MethodPost, "/static/x.css", http.StatusMethodNotAllowed, "OPTIONS, GET, HEAD"},
		{http.MethodDelete, "/v1/generations", http.StatusMethodNotAllowed, "OPTIONS, GET, HEAD, POST"},
		{http.MethodOptions, "/healthz", http.StatusNoContent, "OPTIONS, GET, HEAD"},
		{http.MethodOptions, "/webhooks/fal/" + id, http.StatusNoContent, "OPTIONS, POST"},
		{http.MethodGet, "/nothing", http.StatusNotFound, ""},
		{http.MethodPost, "/nothing", http.StatusNotFound, ""},
		{http.MethodOptions, "/nothing", http.StatusNotFound, ""},
		{http.MethodPost, "/healthz/more", http.StatusNotFound, ""},
		{http.MethodGet, "/webhooks/fal", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		resp, body := b.roundTrip(t, tt.method, tt.path, nil)
		require.Equal(t, tt.wantStatus, resp.StatusCode, "%s %s: %s", tt.method, tt.path, body)
		require.Equal(t, tt.wantAllow, resp.Header.Get("Allow"), "%s %s", tt.method, tt.path)
		wantCode := map[int]string{http.StatusMethodNotAllowed: "method_not_allowed", http.StatusNotFound: "not_found"}[tt.wantStatus]
		if wantCode == "" || tt.method == http.MethodHead {
			require.Empty(t, body, "%s %s", tt.method, tt.path)
			continue
		}
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"), "%s %s", tt.method, tt.path)
		var e struct {
			Error struct{ Code, Message string }
		}
		require.NoError(t, json.Unmarshal(body, &e), "%s %s: %s", tt.method, tt.path, body)
		require.Equal(t, wantCode, e.Error.Code, "%s %s", tt.method, tt.path)
		require.NotEmpty(t, e.Error.Message, "%s %s", tt.method, tt.path)
	}
}

// TestDeclaredTooLargeBeforeContinue: a client that declares a body over
// the limit and asks to continue gets the 413 at once, never 100 Continue.
func TestDeclaredTooLargeBeforeContinue(t *testing.T) {
	t.Parallel()
	b := setup(t)

	addr := b.baseURL[len("http://"):]
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	// Host as a client names the open API: it answers no other.
	_, err = fmt.Fprintf(conn, "POST /v1/generations HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
		"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n", addr, api.MaxBodyBytes+1)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	var e struct{ Error struct{ Code string } }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	require.Equal(t, "too_large", e.Error.Code)
}
