package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/store"
	"github.com/easelhq/easel/web"
)

// credential is how a request in TestDatabaseUnavailable is admitted, which
// decides where the unreachable database is first noticed.
type credential int

const (
	// none: the API is open, and api.Auth asks the database whether a key
	// exists yet.
	none credential = iota
	// session: RequireSession looks the session cookie up.
	session
	// bearer: api.Auth admits a key from its cache, so the request reaches
	// the page's handler, whose own query fails.
	bearer
)

// setupDatabaseDown serves the gallery, behind the real api.Auth, and
// River UI's stand-in on a pool whose database then becomes unreachable: its
// connections are closed and new ones refused, as when Postgres is stopped.
// It returns the header that carries cred, and the log.
func setupDatabaseDown(t *testing.T, cred credential) (*testBundle, http.Header, *logtest.Buffer) {
	t.Helper()
	ctx := context.Background()
	pool, goDown, _ := dbtest.UnreachablePool(t)

	var logs logtest.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	auth, err := api.NewAuth(ctx, pool, api.AuthConfig{
		ListenAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, Simulated: true, Logger: logger, KeyCacheTTL: time.Hour,
	})
	require.NoError(t, err)
	e := echo.New()
	e.HTTPErrorHandler = apierror.Handler(logger)
	gallery := web.New(pool, logger, auth.RequireKey)
	gallery.Register(e)
	e.Any("/riverui/*", func(c echo.Context) error { return c.String(http.StatusOK, "River UI") }, gallery.RequireSession)
	server := httptest.NewServer(e)
	t.Cleanup(server.Close)
	b := &testBundle{ctx: ctx, pool: pool, url: server.URL, client: &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}

	header := http.Header{}
	switch cred {
	case none:
	case session:
		token := "a-session-token"
		k := b.createKey(t, "people", personKey)
		sum := sha256.Sum256([]byte(token))
		require.NoError(t, store.InsertWebSession(ctx, pool, sum[:], k.ID, time.Now().Add(time.Hour)))
		header.Set("Cookie", "easel_session="+token)
	case bearer:
		key, _, err := api.CreateKey(ctx, pool, "scripts")
		require.NoError(t, err)
		header.Set(echo.HeaderAuthorization, "Bearer "+key)
		// Admitted once while the database is up, the key is then cached.
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.url+"/riverui/", nil)
		require.NoError(t, err)
		req.Header = header.Clone()
		require.Equal(t, http.StatusOK, b.do(t, req).status)
	}

	goDown()
	return b, header, &logs
}

// TestDatabaseUnavailable: with Postgres down, every page behind the
// gallery's sign-in, the sign-in itself and River UI answer 503 with
// Retry-After, as /v1 does: a page for a browser, and /v1's JSON for a
// script. The outage is logged as a warning, not an error.
func TestDatabaseUnavailable(t *testing.T) {
	t.Parallel()

	const id = "0193a4c1-7d1e-7c4e-9d6b-2f1d9c1e0a11"
	const html, script = "text/html,application/xhtml+xml,*/*;q=0.8", "application/json"
	for _, tt := range []struct {
		name         string
		cred         credential
		method, path string
		accept       string
		form         url.Values
	}{
		{name: "gallery, open API", cred: none, method: http.MethodGet, path: "/", accept: html},
		{name: "gallery, session", cred: session, method: http.MethodGet, path: "/", accept: html},
		{name: "gallery, bearer", cred: bearer, method: http.MethodGet, path: "/", accept: html},
		{name: "detail, session", cred: session, method: http.MethodGet, path: "/generations/" + id, accept: html},
		{name: "detail, bearer", cred: bearer, method: http.MethodGet, path: "/generations/" + id, accept: html},
		{name: "state, open API", cred: none, method: http.MethodGet, path: "/generations/" + id + "/state", accept: script},
		{name: "state, session", cred: session, method: http.MethodGet, path: "/generations/" + id + "/state", accept: script},
		{name: "state, bearer", cred: bearer, method: http.MethodGet, path: "/generations/" + id + "/state", accept: script},
		{name: "sign in", cred: none, method: http.MethodPost, path: "/login", accept: html, form: url.Values{"key": {personKey}, "next": {"/"}}},
		{name: "sign out", cred: session, method: http.MethodPost, path: "/logout", accept: html, form: url.Values{}},
		{name: "River UI, open API", cred: none, method: http.MethodGet, path: "/riverui/", accept: html},
		{name: "River UI, session", cred: session, method: http.MethodGet, path: "/riverui/", accept: html},
		{name: "River UI's API, session", cred: session, method: http.MethodGet, path: "/riverui/api/jobs", accept: script},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, header, logs := setupDatabaseDown(t, tt.cred)

			req, err := http.NewRequestWithContext(b.ctx, tt.method, b.url+tt.path, strings.NewReader(tt.form.Encode()))
			require.NoError(t, err)
			req.Header = header
			req.Header.Set("Accept", tt.accept)
			if tt.form != nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			resp := b.do(t, req)

			require.Equal(t, http.StatusServiceUnavailable, resp.status, resp.body)
			require.Equal(t, "5", resp.header.Get("Retry-After"))
			if tt.accept == script {
				require.Contains(t, resp.header.Get("Content-Type"), "application/json")
				var got struct {
					Error struct{ Code, Message string }
				}
				require.NoError(t, json.Unmarshal([]byte(resp.body), &got), resp.body)
				require.Equal(t, "database_unavailable", got.Error.Code)
			} else {
				require.Contains(t, resp.header.Get("Content-Type"), "text/html")
				require.Contains(t, resp.body, "<h1>Database unavailable</h1>")
				require.Contains(t, resp.body, "Easel cannot reach its database")
				require.Contains(t, resp.body, "Retry in a few seconds.")
			}
			require.Contains(t, logs.String(), `"level":"WARN"`)
			require.NotContains(t, logs.String(), `"level":"ERROR"`)
		})
	}
}
