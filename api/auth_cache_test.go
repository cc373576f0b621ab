package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/internal/clocktest"
	"github.com/easelhq/easel/store"
)

// With a key cache, a revoked key keeps working for at most the cache's TTL
// on a process that admitted it just before, and not at all where it was
// not admitted within the TTL.
func TestAuthKeyCache(t *testing.T) {
	t.Parallel()
	clock := clocktest.New()
	b, err := setupWith(t, setupOpts{keys: []string{"billing"}, keyCacheTTL: time.Second, now: clock.Now})
	require.NoError(t, err)
	used, _, err := api.CreateKey(b.ctx, b.pool, "used")
	require.NoError(t, err)
	unused, _, err := api.CreateKey(b.ctx, b.pool, "unused")
	require.NoError(t, err)

	post := func(key string) int {
		header := jsonHeader()
		header.Set(echo.HeaderAuthorization, bearer(key))
		return b.do(t, http.MethodPost, "/v1/generations", header, []byte(falExampleInput)).status
	}
	require.Equal(t, http.StatusAccepted, post(used))
	for _, name := range []string{"used", "unused"} {
		_, err = store.RevokeAPIKey(b.ctx, b.pool, name)
		require.NoError(t, err)
	}

	require.Equal(t, http.StatusUnauthorized, post(unused), "never admitted: looked up, and refused")
	clock.Advance(time.Second - time.Millisecond)
	require.Equal(t, http.StatusAccepted, post(used), "admitted within the TTL: still trusted")
	clock.Advance(time.Millisecond)
	require.Equal(t, http.StatusUnauthorized, post(used), "TTL over: looked up again, and refused")

	generations, _ := b.counts(t)
	require.Equal(t, 2, generations)
}

// last_used_at is written again once touchInterval (a minute) has passed
// on Auth's clock, the one its key cache reads, not the wall clock's.
func TestAuthTouchFollowsClock(t *testing.T) {
	t.Parallel()
	clock := clocktest.New()
	b, err := setupWith(t, setupOpts{keys: []string{"billing"}, now: clock.Now})
	require.NoError(t, err)
	key, _, err := api.CreateKey(b.ctx, b.pool, "used")
	require.NoError(t, err)
	// Long enough ago by the wall clock, and the database's, that their
	// checks would let the write through: only Auth's clock holds it back.
	var used time.Time
	require.NoError(t, b.pool.QueryRow(b.ctx,
		`UPDATE api_keys SET last_used_at = now() - interval '1 hour' WHERE name = 'used' RETURNING last_used_at`).Scan(&used))
	clock.Advance(used.Sub(clock.Now()) + time.Minute - time.Microsecond)

	get := func() {
		t.Helper()
		resp := b.do(t, http.MethodGet, "/v1/generations", http.Header{echo.HeaderAuthorization: {bearer(key)}}, nil)
		require.Equal(t, http.StatusOK, resp.status, string(resp.body))
	}
	get()
	require.Equal(t, used, lastUsedAt(t, b, "used"), "a minute has not passed on Auth's clock")
	clock.Advance(time.Microsecond)
	get()
	require.True(t, lastUsedAt(t, b, "used").After(used), "a minute has passed on Auth's clock")
}

func lastUsedAt(t *testing.T, b *testBundle, name string) time.Time {
	t.Helper()
	var at time.Time
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT last_used_at FROM api_keys WHERE name = $1`, name).Scan(&at))
	return at
}
