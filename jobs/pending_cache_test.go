package jobs_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/clocktest"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

// TestEnqueuePendingCache runs two processes on one database, each with its
// cache: each counts the client once, then goes by its own enqueues, so the
// client ends over the cap by what the other process enqueued meanwhile,
// the bound that jobs.ErrTooManyPending documents.
func TestEnqueuePendingCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	clock := clocktest.New()
	const maxPending = 4

	enqueue := func(t *testing.T, cache *jobs.PendingCache, key string) (*jobs.Enqueued, error) {
		t.Helper()
		var enqueued *jobs.Enqueued
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			var err error
			enqueued, err = jobs.Enqueue(ctx, tx, "billing", enqueueTestInput,
				&jobs.EnqueueOpts{MaxPending: maxPending, PendingCache: cache, IdempotencyKey: key})
			return err
		})
		return enqueued, err
	}
	pending := func(t *testing.T) int {
		t.Helper()
		n, err := store.CountPending(ctx, pool, "billing", 100)
		require.NoError(t, err)
		return n
	}
	a, b := jobs.NewPendingCache(clock.Now), jobs.NewPendingCache(clock.Now)

	first, err := enqueue(t, a, "first") // a counts 0
	require.NoError(t, err)
	var byB int
	for _, cache := range []*jobs.PendingCache{b, a, b, a, b, a} { // b counts 1
		_, err := enqueue(t, cache, "")
		require.NoError(t, err)
		if cache == b {
			byB++
		}
	}
	// a's last enqueue went by its count of 0 and its own 3 since: b's
	// enqueues within the TTL are on top of the cap.
	require.Equal(t, maxPending+byB, pending(t))
	// Both estimates are at the cap now: each counts, and refuses.
	for _, cache := range []*jobs.PendingCache{a, b} {
		_, err = enqueue(t, cache, "")
		require.ErrorIs(t, err, jobs.ErrTooManyPending)
		require.ErrorContains(t, err, "billing: 4 unfinished generations", "the count stops at the cap")
	}

	// Within the TTL the refusal stands without a count, but a replay is
	// still answered.
	_, err = enqueue(t, a, "new work")
	require.ErrorIs(t, err, jobs.ErrTooManyPending)
	replayed, err := enqueue(t, a, "first")
	require.NoError(t, err)
	require.True(t, replayed.Replayed)
	require.Equal(t, first.Generation.ID, replayed.Generation.ID)

	// Once they have finished, the next count after the TTL finds room.
	rows, err := pool.Query(ctx, `SELECT id FROM generations`)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	for _, id := range ids {
		_, err = store.Fail(ctx, pool, id, store.ErrorCodeFalError, "failed")
		require.NoError(t, err)
	}
	_, err = enqueue(t, a, "")
	require.ErrorIs(t, err, jobs.ErrTooManyPending, "the refusal rests on a count less than a TTL old")
	clock.Advance(jobs.PendingCacheTTL)
	_, err = enqueue(t, a, "")
	require.NoError(t, err)
	require.Equal(t, 1, pending(t))
}
