package store_test

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func TestAPIKeyLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)

	exists, err := store.AnyAPIKeys(b.ctx, b.pool)
	require.NoError(t, err)
	require.False(t, exists)

	k, err := store.InsertAPIKey(b.ctx, b.pool, "billing", hashOf("key-1"), "easel_abcd")
	require.NoError(t, err)
	require.Equal(t, "billing", k.Name)
	require.Equal(t, "easel_abcd", k.Prefix)
	require.Nil(t, k.LastUsedAt)
	require.Nil(t, k.RevokedAt)

	got, err := store.GetActiveAPIKey(b.ctx, b.pool, hashOf("key-1"))
	require.NoError(t, err)
	require.Equal(t, k.ID, got.ID)
	_, err = store.GetActiveAPIKey(b.ctx, b.pool, hashOf("key-2"))
	require.ErrorIs(t, err, store.ErrNotFound)

	_, err = store.InsertAPIKey(b.ctx, b.pool, "billing", hashOf("key-2"), "easel_efgh")
	require.ErrorIs(t, err, store.ErrAPIKeyNameTaken)

	revoked, err := store.RevokeAPIKey(b.ctx, b.pool, "billing")
	require.NoError(t, err)
	require.NotNil(t, revoked.RevokedAt)
	_, err = store.GetActiveAPIKey(b.ctx, b.pool, hashOf("key-1"))
	require.ErrorIs(t, err, store.ErrNotFound, "a revoked key no longer authenticates")
	_, err = store.RevokeAPIKey(b.ctx, b.pool, "billing")
	require.ErrorIs(t, err, store.ErrNotFound)

	// A replacement key takes the revoked key's name.
	replacement, err := store.InsertAPIKey(b.ctx, b.pool, "billing", hashOf("key-2"), "easel_efgh")
	require.NoError(t, err)

	keys, err := store.ListAPIKeys(b.ctx, b.pool)
	require.NoError(t, err)
	require.Len(t, keys, 2)
	require.Equal(t, k.ID, keys[0].ID)
	require.NotNil(t, keys[0].RevokedAt)
	require.Equal(t, replacement.ID, keys[1].ID)
	require.Nil(t, keys[1].RevokedAt)

	exists, err = store.AnyAPIKeys(b.ctx, b.pool)
	require.NoError(t, err)
	require.True(t, exists)
}

func TestAPIKeyKeyHashUnique(t *testing.T) {
	t.Parallel()
	b := setup(t)

	_, err := store.InsertAPIKey(b.ctx, b.pool, "a", hashOf("same"), "easel_a")
	require.NoError(t, err)
	_, err = store.InsertAPIKey(b.ctx, b.pool, "b", hashOf("same"), "easel_a")
	require.Error(t, err)
	require.NotErrorIs(t, err, store.ErrAPIKeyNameTaken)
}

func TestTouchAPIKey(t *testing.T) {
	t.Parallel()
	b := setup(t)

	k, err := store.InsertAPIKey(b.ctx, b.pool, "billing", hashOf("key"), "easel_abcd")
	require.NoError(t, err)

	require.NoError(t, store.TouchAPIKey(b.ctx, b.pool, k.ID, time.Minute))
	first, err := store.GetActiveAPIKey(b.ctx, b.pool, hashOf("key"))
	require.NoError(t, err)
	require.NotNil(t, first.LastUsedAt)

	// Within the interval nothing is written.
	require.NoError(t, store.TouchAPIKey(b.ctx, b.pool, k.ID, time.Hour))
	second, err := store.GetActiveAPIKey(b.ctx, b.pool, hashOf("key"))
	require.NoError(t, err)
	require.Equal(t, *first.LastUsedAt, *second.LastUsedAt)

	// Past it, the time moves on.
	_, err = b.pool.Exec(b.ctx, `UPDATE api_keys SET last_used_at = last_used_at - interval '2 minutes'`)
	require.NoError(t, err)
	require.NoError(t, store.TouchAPIKey(b.ctx, b.pool, k.ID, time.Minute))
	third, err := store.GetActiveAPIKey(b.ctx, b.pool, hashOf("key"))
	require.NoError(t, err)
	require.False(t, third.LastUsedAt.Before(*first.LastUsedAt))
}
