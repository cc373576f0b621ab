package api_test

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/store"
)

func TestCreateKey(t *testing.T) {
	t.Parallel()
	b := setup(t)

	key, stored, err := api.CreateKey(b.ctx, b.pool, "billing")
	require.NoError(t, err)
	require.Regexp(t, regexp.MustCompile(`^easel_[a-z2-7]{40}$`), key)
	require.Equal(t, "billing", stored.Name)
	require.Equal(t, key[:14], stored.Prefix)

	// Only the hash is stored.
	var hash []byte
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT key_hash FROM api_keys WHERE id = $1`, stored.ID).Scan(&hash))
	want := sha256.Sum256([]byte(key))
	require.Equal(t, want[:], hash)
	var leaked bool
	require.NoError(t, b.pool.QueryRow(b.ctx,
		`SELECT EXISTS (SELECT 1 FROM api_keys WHERE row_to_json(api_keys)::text LIKE '%' || $1 || '%')`, key[14:]).Scan(&leaked))
	require.False(t, leaked, "the key is stored in clear")

	other, _, err := api.CreateKey(b.ctx, b.pool, "shipping")
	require.NoError(t, err)
	require.NotEqual(t, key, other)

	_, _, err = api.CreateKey(b.ctx, b.pool, "billing")
	require.ErrorIs(t, err, store.ErrAPIKeyNameTaken)

	for _, name := range []string{"", "anonymous", "has space", "naïve", "semi;colon", strings.Repeat("a", 101)} {
		_, _, err := api.CreateKey(b.ctx, b.pool, name)
		require.Error(t, err, "name %q", name)
	}
}

func TestAuthOpenOnLoopbackUntilFirstKey(t *testing.T) {
	t.Parallel()
	b := setup(t)

	g := b.enqueue(t, jsonHeader(), falExampleInput, http.StatusAccepted)
	require.Equal(t, api.AnonymousClient, g.Client)

	// Creating a key closes the running API at once.
	key, _, err := api.CreateKey(b.ctx, b.pool, "billing")
	require.NoError(t, err)
	resp := b.do(t, http.MethodGet, "/v1/generations/"+g.ID, nil, nil)
	require.Equal(t, http.StatusUnauthorized, resp.status)
	require.Equal(t, "unauthorized", resp.errorBody(t).Code)
	require.Equal(t, `Bearer realm="easel"`, resp.header.Get(echo.HeaderWWWAuthenticate))

	resp = b.do(t, http.MethodGet, "/v1/generations/"+g.ID, http.Header{echo.HeaderAuthorization: {bearer(key)}}, nil)
	require.Equal(t, http.StatusOK, resp.status)

	// Revoking every key locks the API rather than opening it again.
	_, err = store.RevokeAPIKey(b.ctx, b.pool, "billing")
	require.NoError(t, err)
	for _, header := range []http.Header{nil, {echo.HeaderAuthorization: {bearer(key)}}} {
		resp = b.do(t, http.MethodGet, "/v1/generations/"+g.ID, header, nil)
		require.Equal(t, http.StatusUnauthorized, resp.status)
	}
}

// TestAuthNeverOpenWithoutSimulator: with generations that may be billed
// (FAL_KEY set, or workers elsewhere), a loopback listener says nothing of
// who calls, since a tunnel or a reverse proxy carrying fal's webhooks in
// connects from loopback too: the API starts, but admits nobody without a
// key, and says how to make the first one.
func TestAuthNeverOpenWithoutSimulator(t *testing.T) {
	t.Parallel()
	b, err := setupWith(t, setupOpts{billed: true})
	require.NoError(t, err)

	for _, header := range []http.Header{jsonHeader(), jsonHeader("X-Forwarded-For", "203.0.113.7")} {
		resp := b.do(t, http.MethodPost, "/v1/generations", header, []byte(falExampleInput))
		require.Equal(t, http.StatusUnauthorized, resp.status, string(resp.body))
		e := resp.errorBody(t)
		require.Equal(t, "unauthorized", e.Code)
		require.Equal(t, "an API key is required, and none exists yet: create one with `easel keys create NAME`, "+
			"then send it in the header Authorization: Bearer followed by the key", e.Message)
		require.Equal(t, `Bearer realm="easel"`, resp.header.Get(echo.HeaderWWWAuthenticate))
	}
	generations, jobs := b.counts(t)
	require.Zero(t, generations)
	require.Zero(t, jobs)

	// The first key is created while it runs: it works at once, and the
	// message for a request without one no longer says none exists.
	key, _, err := api.CreateKey(b.ctx, b.pool, "billing")
	require.NoError(t, err)
	g := b.enqueue(t, jsonHeader(echo.HeaderAuthorization, bearer(key)), falExampleInput, http.StatusAccepted)
	require.Equal(t, "billing", g.Client)
	resp := b.do(t, http.MethodGet, "/v1/generations/"+g.ID, nil, nil)
	require.Equal(t, http.StatusUnauthorized, resp.status)
	require.Equal(t, "an API key is required: send it in the header Authorization: Bearer followed by the key", resp.errorBody(t).Message)
}

// doHost is b.do with the request addressed to host.
func (b *testBundle) doHost(t *testing.T, host, method, path string, header http.Header, body []byte) response {
	t.Helper()
	req := newRequest(method, path, header, body)
	req.Host = host
	rec := httptest.NewRecorder()
	b.echo.ServeHTTP(rec, req)
	resp := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	b.checkOpenAPI(t, method, path, header, body, resp)
	return resp
}

// TestAuthOpenAnswersOnlyLoopbackHosts: the open API answers a request
// without a key only if it is addressed to this host by a loopback name. A
// page whose name was re-pointed at 127.0.0.1 (DNS rebinding) would
// otherwise read it as its own; its requests still carry its name.
func TestAuthOpenAnswersOnlyLoopbackHosts(t *testing.T) {
	t.Parallel()
	b := setup(t)

	for _, tt := range []struct {
		host string
		want int
	}{
		{"127.0.0.1:8080", http.StatusOK},
		{"127.0.0.1", http.StatusOK},
		{"127.1.2.3:8080", http.StatusOK},
		{"localhost:8080", http.StatusOK},
		{"localhost", http.StatusOK},
		{"LocalHost:8080", http.StatusOK},
		{"[::1]:8080", http.StatusOK},
		{"[::1]", http.StatusOK},
		{"rebound.evil.example", http.StatusForbidden},
		{"rebound.evil.example:8080", http.StatusForbidden},
		{"localhost.evil.example:8080", http.StatusForbidden},
		{"127.0.0.1.evil.example", http.StatusForbidden},
		{"0.0.0.0:8080", http.StatusForbidden},
		{"[::]:8080", http.StatusForbidden},
		{"192.0.2.10:8080", http.StatusForbidden},
		{"", http.StatusForbidden},
	} {
		resp := b.doHost(t, tt.host, http.MethodGet, "/v1/generations", nil, nil)
		require.Equal(t, tt.want, resp.status, "Host %q: %s", tt.host, resp.body)
		if tt.want == http.StatusForbidden {
			e := resp.errorBody(t)
			require.Equal(t, "host_not_allowed", e.Code)
			require.Contains(t, e.Message, "localhost or a loopback address")
			require.Contains(t, e.Message, "easel keys create NAME")
		}
	}
	resp := b.doHost(t, "rebound.evil.example", http.MethodPost, "/v1/generations", jsonHeader(), []byte(falExampleInput))
	require.Equal(t, http.StatusForbidden, resp.status)
	generations, jobs := b.counts(t)
	require.Zero(t, generations)
	require.Zero(t, jobs)

	// A key is valid whatever the request is addressed to: behind a proxy,
	// that is the proxy's name.
	key, _, err := api.CreateKey(b.ctx, b.pool, "billing")
	require.NoError(t, err)
	resp = b.doHost(t, "easel.example.com", http.MethodGet, "/v1/generations", http.Header{echo.HeaderAuthorization: {bearer(key)}}, nil)
	require.Equal(t, http.StatusOK, resp.status, string(resp.body))
}

// TestAuthOpenRefusesCrossSiteChanges: while open, a POST another site's
// page sent is refused (a cancel needs no body, so a plain form could send
// one), by Sec-Fetch-Site, else by Origin against Host; one from Easel's
// own origin, or from a script (neither header), is admitted, and so is
// any GET, whose answer another site cannot read.
func TestAuthOpenRefusesCrossSiteChanges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.enqueue(t, jsonHeader(), falExampleInput, http.StatusAccepted)
	cancel := "/v1/generations/" + g.ID + "/cancel"

	for _, tt := range []struct {
		name   string
		header http.Header
		method string
		want   int
	}{
		{"cross-site by Sec-Fetch-Site", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}, http.MethodPost, http.StatusForbidden},
		{"same-site, other origin", http.Header{"Sec-Fetch-Site": {"same-site"}}, http.MethodPost, http.StatusForbidden},
		{"cross-site by Origin alone", http.Header{"Origin": {"https://evil.example"}}, http.MethodPost, http.StatusForbidden},
		{"other port by Origin alone", http.Header{"Origin": {"http://127.0.0.1:3000"}}, http.MethodPost, http.StatusForbidden},
		{"cross-site read", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}, http.MethodGet, http.StatusOK},
	} {
		path := cancel
		if tt.method == http.MethodGet {
			path = "/v1/generations/" + g.ID
		}
		resp := b.do(t, tt.method, path, tt.header, nil)
		require.Equal(t, tt.want, resp.status, "%s: %s", tt.name, resp.body)
		if tt.want == http.StatusForbidden {
			require.Equal(t, "cross_origin", resp.errorBody(t).Code, tt.name)
		}
	}
	var status string
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT status FROM generations WHERE id = $1`, g.ID).Scan(&status))
	require.Equal(t, "queued", status, "no cross-site POST cancelled it")

	// Easel's own origin may, by either header; a script sends neither
	// (the enqueue above).
	for _, header := range []http.Header{
		jsonHeader("Sec-Fetch-Site", "same-origin", "Origin", "http://"+testHost),
		jsonHeader("Origin", "http://"+testHost),
	} {
		b.enqueue(t, header, falExampleInput, http.StatusAccepted)
	}
}

func TestAuthRefusesOpenNonLoopback(t *testing.T) {
	t.Parallel()

	for _, addr := range []net.Addr{
		&net.TCPAddr{IP: net.IPv4zero, Port: 8080},
		&net.TCPAddr{IP: net.IPv6unspecified, Port: 8080},
		&net.TCPAddr{IP: net.IPv4(192, 0, 2, 10), Port: 8080},
	} {
		_, err := setupWith(t, setupOpts{listenAddr: addr})
		require.ErrorContains(t, err, "not a loopback address", addr.String())
		require.ErrorContains(t, err, "easel keys create NAME")
	}

	// With a key, the same address serves, and only with a key.
	b, err := setupWith(t, setupOpts{listenAddr: &net.TCPAddr{IP: net.IPv4zero, Port: 8080}, keys: []string{"billing"}})
	require.NoError(t, err)
	resp := b.do(t, http.MethodPost, "/v1/generations", jsonHeader(), []byte(falExampleInput))
	require.Equal(t, http.StatusUnauthorized, resp.status)
}

func TestAuthIPv6Loopback(t *testing.T) {
	t.Parallel()

	b, err := setupWith(t, setupOpts{listenAddr: &net.TCPAddr{IP: net.IPv6loopback, Port: 8080}})
	require.NoError(t, err)
	g := b.enqueue(t, jsonHeader(), falExampleInput, http.StatusAccepted)
	require.Equal(t, api.AnonymousClient, g.Client)
}

// TestAuthRejects sends requests with missing or bad credentials to a closed
// API: each gets 401 with the error shape and WWW-Authenticate, and none
// enqueues anything.
func TestAuthRejects(t *testing.T) {
	t.Parallel()
	b, err := setupWith(t, setupOpts{keys: []string{"billing"}})
	require.NoError(t, err)
	revoked, _, err := api.CreateKey(b.ctx, b.pool, "revoked-later")
	require.NoError(t, err)
	_, err = store.RevokeAPIKey(b.ctx, b.pool, "revoked-later")
	require.NoError(t, err)
	// valid is sent only alongside another Authorization header, so it is
	// never admitted, and never recorded as used.
	valid, _, err := api.CreateKey(b.ctx, b.pool, "valid")
	require.NoError(t, err)
	unknown := "easel_" + strings.Repeat("a", 40)
	const twice = "the Authorization header must be given once: Bearer followed by one API key"

	tests := []struct {
		name           string
		authorizations []string // one header line each
		message        string   // when set, the error's message
	}{
		{name: "no header"},
		{name: "basic", authorizations: []string{"Basic YWxhZGRpbjpvcGVuc2VzYW1l"}},
		{name: "bearer without key", authorizations: []string{"Bearer "}},
		{name: "key without scheme", authorizations: []string{unknown}},
		{name: "not a key", authorizations: []string{"Bearer hunter2"}},
		{name: "unknown key", authorizations: []string{bearer(unknown)}},
		{name: "upper-case key", authorizations: []string{bearer(strings.ToUpper(revoked))}},
		{name: "revoked key", authorizations: []string{bearer(revoked)}},
		{name: "valid key then garbage", authorizations: []string{bearer(valid), "Bearer garbage"}, message: twice},
		{name: "garbage then valid key", authorizations: []string{"Bearer garbage", bearer(valid)}, message: twice},
		{name: "valid key twice", authorizations: []string{bearer(valid), bearer(valid)}, message: twice},
		{name: "valid key then empty", authorizations: []string{bearer(valid), ""}, message: twice},
		{name: "two empty", authorizations: []string{"", ""}, message: twice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			header := jsonHeader()
			if len(tt.authorizations) > 0 {
				header[echo.HeaderAuthorization] = tt.authorizations
			}
			resp := b.do(t, http.MethodPost, "/v1/generations", header, []byte(falExampleInput))
			require.Equal(t, http.StatusUnauthorized, resp.status, string(resp.body))
			e := resp.errorBody(t)
			require.Equal(t, "unauthorized", e.Code)
			if tt.message != "" {
				require.Equal(t, tt.message, e.Message)
			}
			require.Equal(t, `Bearer realm="easel"`, resp.header.Get(echo.HeaderWWWAuthenticate))
			generations, jobs := b.counts(t)
			require.Zero(t, generations)
			require.Zero(t, jobs)
			require.Empty(t, lastUsed(t, b, "valid"))
		})
	}
}

// TestAuthOpenRefusesTwoHeaders: the open API admits a request without a
// key, but not one with two Authorization headers, even empty ones.
func TestAuthOpenRefusesTwoHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t)

	for _, authorizations := range [][]string{{"", ""}, {"Bearer garbage", ""}} {
		header := jsonHeader()
		header[echo.HeaderAuthorization] = authorizations
		resp := b.do(t, http.MethodPost, "/v1/generations", header, []byte(falExampleInput))
		require.Equal(t, http.StatusUnauthorized, resp.status, string(resp.body))
		require.Contains(t, resp.errorBody(t).Message, "must be given once")
	}
	generations, jobs := b.counts(t)
	require.Zero(t, generations)
	require.Zero(t, jobs)

	g := b.enqueue(t, jsonHeader(), falExampleInput, http.StatusAccepted)
	require.Equal(t, api.AnonymousClient, g.Client)
}

func TestAuthKeyNamesClient(t *testing.T) {
	t.Parallel()
	b, err := setupWith(t, setupOpts{keys: []string{"other"}})
	require.NoError(t, err)
	key, stored, err := api.CreateKey(b.ctx, b.pool, "billing")
	require.NoError(t, err)
	require.Nil(t, stored.LastUsedAt)

	g := b.enqueue(t, jsonHeader(echo.HeaderAuthorization, bearer(key)), falExampleInput, http.StatusAccepted)
	require.Equal(t, "billing", g.Client)
	var client string
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT client FROM generations WHERE id = $1`, g.ID).Scan(&client))
	require.Equal(t, "billing", client)

	// The scheme is case-insensitive (RFC 9110).
	resp := b.do(t, http.MethodGet, "/v1/generations/"+g.ID, http.Header{echo.HeaderAuthorization: {"bearer " + key}}, nil)
	require.Equal(t, http.StatusOK, resp.status)

	// Use is recorded, but not on every request.
	first := lastUsed(t, b, "billing")
	require.NotEmpty(t, first)
	b.do(t, http.MethodGet, "/v1/generations/"+g.ID, http.Header{echo.HeaderAuthorization: {bearer(key)}}, nil)
	require.Equal(t, first, lastUsed(t, b, "billing"))
}

func lastUsed(t *testing.T, b *testBundle, name string) string {
	t.Helper()
	var at *string
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT last_used_at::text FROM api_keys WHERE name = $1`, name).Scan(&at))
	if at == nil {
		return ""
	}
	return *at
}

// TestAuthRefusalNamesConfiguredAddr: the refusal names the address as the
// operator set it, not as the listener reads it back ([::] for 0.0.0.0).
func TestAuthRefusalNamesConfiguredAddr(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)

	tests := []struct {
		listen     net.Addr
		configured string
		want       string
	}{
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 18082}, "0.0.0.0:18082", "0.0.0.0:18082 (all interfaces) is not a loopback address"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 18082}, ":18082", ":18082 (all interfaces) is not a loopback address"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 18082}, "", "[::]:18082 (all interfaces) is not a loopback address"},
		{&net.TCPAddr{IP: net.IPv4(192, 0, 2, 10), Port: 8080}, "easel.internal:8080", "easel.internal:8080 (listening on 192.0.2.10:8080) is not a loopback address"},
		{&net.TCPAddr{IP: net.IPv4(192, 0, 2, 10), Port: 8080}, "192.0.2.10:8080", "192.0.2.10:8080 is not a loopback address"},
	}
	for _, tt := range tests {
		_, err := api.NewAuth(context.Background(), pool, api.AuthConfig{ListenAddr: tt.listen, ConfiguredAddr: tt.configured,
			Logger: slog.New(slog.DiscardHandler)})
		require.ErrorContains(t, err, "no API key exists and "+tt.want+", so /v1 would be open to anyone", tt.configured)
	}
}
