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
