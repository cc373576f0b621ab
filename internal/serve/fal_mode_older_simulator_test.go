package serve_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/store"
)

// A simulator process of a release before the fal-mode locks holds only its
// simulator's lock; during a rolling upgrade a process on fal must see it
// all the same, or fal's users get its simulator's images.
func TestFalModeSeesAnOlderReleasesSimulator(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	databaseURL := dbtest.URL(t)
	older, err := pgx.Connect(ctx, databaseURL)
	require.NoError(t, err)
	t.Cleanup(func() { older.Close(ctx) })
	pool, err := pgxpool.New(ctx, databaseURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	running, err := store.FalModeRunning(ctx, pool, store.FalModeSimulator)
	require.NoError(t, err)
	require.False(t, running, "nothing runs yet")

	require.NoError(t, store.HoldSimulator(ctx, older, "127.0.0.1:40999"))
	running, err = store.FalModeRunning(ctx, pool, store.FalModeSimulator)
	require.NoError(t, err)
	require.True(t, running, "an older release's simulator process is seen")
	running, err = store.FalModeRunning(ctx, pool, store.FalModeFal)
	require.NoError(t, err)
	require.False(t, running, "and is no process on fal")

	require.NoError(t, store.ReleaseSimulator(ctx, older, "127.0.0.1:40999"))
	running, err = store.FalModeRunning(ctx, pool, store.FalModeSimulator)
	require.NoError(t, err)
	require.False(t, running, "a stopped one is not")
}
