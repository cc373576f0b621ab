package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

func TestWebSessionLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)

	k, err := store.InsertAPIKey(b.ctx, b.pool, "people", hashOf("key-1"), "easel_abcd")
	require.NoError(t, err)

	require.NoError(t, store.InsertWebSession(b.ctx, b.pool, hashOf("token-1"), k.ID, time.Now().Add(time.Hour)))
	got, err := store.GetWebSessionKey(b.ctx, b.pool, hashOf("token-1"))
	require.NoError(t, err)
	require.Equal(t, k.ID, got.ID)
	require.Equal(t, "people", got.Name)

	_, err = store.GetWebSessionKey(b.ctx, b.pool, hashOf("token-2"))
	require.ErrorIs(t, err, store.ErrNotFound)

	require.NoError(t, store.DeleteWebSession(b.ctx, b.pool, hashOf("token-1")))
	_, err = store.GetWebSessionKey(b.ctx, b.pool, hashOf("token-1"))
	require.ErrorIs(t, err, store.ErrNotFound, "signed out")
	require.NoError(t, store.DeleteWebSession(b.ctx, b.pool, hashOf("token-1")), "signing out twice is fine")
}

func TestWebSessionExpiresAndDiesWithItsKey(t *testing.T) {
	t.Parallel()
	b := setup(t)

	k, err := store.InsertAPIKey(b.ctx, b.pool, "people", hashOf("key-1"), "easel_abcd")
	require.NoError(t, err)
	require.NoError(t, store.InsertWebSession(b.ctx, b.pool, hashOf("expired"), k.ID, time.Now().Add(-time.Second)))
	_, err = store.GetWebSessionKey(b.ctx, b.pool, hashOf("expired"))
	require.ErrorIs(t, err, store.ErrNotFound)

	// The next sign-in sweeps expired sessions away.
	require.NoError(t, store.InsertWebSession(b.ctx, b.pool, hashOf("live"), k.ID, time.Now().Add(time.Hour)))
	var sessions int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM web_sessions`).Scan(&sessions))
	require.Equal(t, 1, sessions)

	_, err = store.RevokeAPIKey(b.ctx, b.pool, "people")
	require.NoError(t, err)
	_, err = store.GetWebSessionKey(b.ctx, b.pool, hashOf("live"))
	require.ErrorIs(t, err, store.ErrNotFound, "revoking the key ends its sessions")
}
