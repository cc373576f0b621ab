package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

func TestCountGenerationsByStatus(t *testing.T) {
	t.Parallel()
	b := setup(t)

	counts, err := store.CountGenerationsByStatus(b.ctx, b.pool, 1e5)
	require.NoError(t, err)
	require.Equal(t, map[store.Status]int64{"queued": 0, "submitted": 0, "completed": 0, "failed": 0, "cancelled": 0}, counts,
		"every status, even on an empty table")

	for range 3 {
		b.insert(t, "")
	}
	for range 2 {
		g := b.insert(t, "")
		_, err := store.Fail(b.ctx, b.pool, g.ID, "x", "y")
		require.NoError(t, err)
	}
	for range 2 {
		g := b.insert(t, "")
		b.complete(t, g.ID, store.Completion{})
	}
	want := map[store.Status]int64{"queued": 3, "submitted": 0, "completed": 2, "failed": 2, "cancelled": 0}

	counts, err = store.CountGenerationsByStatus(b.ctx, b.pool, 1e5)
	require.NoError(t, err)
	require.Equal(t, want, counts, "exact below the threshold")

	// Above the threshold finished statuses come from the statistics, which
	// ANALYZE computes from every row of a table this small. (A status seen
	// once is not among the most common values and would be estimated 0.)
	_, err = b.pool.Exec(b.ctx, `ANALYZE generations`)
	require.NoError(t, err)
	counts, err = store.CountGenerationsByStatus(b.ctx, b.pool, 0)
	require.NoError(t, err)
	require.Equal(t, want, counts, "estimated above it")

	// Unfinished rows are counted exactly even then, statistics or not.
	b.insert(t, "")
	counts, err = store.CountGenerationsByStatus(b.ctx, b.pool, 0)
	require.NoError(t, err)
	require.Equal(t, int64(4), counts[store.StatusQueued])
}

func TestCountUnfinishedRiverJobs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.pool.Exec(b.ctx, `
		INSERT INTO river_job (args, kind, max_attempts, queue, state, finalized_at)
		VALUES ('{}', 'a', 1, 'default', 'available', NULL), ('{}', 'a', 1, 'default', 'available', NULL),
			('{}', 'a', 1, 'callbacks', 'retryable', NULL), ('{}', 'a', 1, 'default', 'completed', now())`)
	require.NoError(t, err)

	counts, err := store.CountUnfinishedRiverJobs(b.ctx, b.pool)
	require.NoError(t, err)
	require.Equal(t, []store.RiverJobCount{
		{Queue: "callbacks", State: "retryable", Count: 1},
		{Queue: "default", State: "available", Count: 2},
	}, counts)
}
