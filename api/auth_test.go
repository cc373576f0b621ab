package api_test

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"net"
	"net/http"
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
