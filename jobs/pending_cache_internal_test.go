package jobs

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/clocktest"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/store"
)

// A process serving ever new clients keeps entries only for those counted
// within about a TTL.
func TestPendingCacheForgetsIdleClients(t *testing.T) {
	t.Parallel()
	clock := clocktest.New()
	c := &PendingCache{now: clock.Now}
	const limit, perTTL = 10, 100

	largest := 0
	for round := range 100 {
		for i := range perTTL {
			_, _, _, ticket := c.admit(fmt.Sprintf("client-%d-%d", round, i), limit)
			require.NotNil(t, ticket, "a new client is counted")
			c.counted(ticket, limit, 0, true)
			largest = max(largest, len(c.clients))
		}
		clock.Advance(PendingCacheTTL)
	}
	require.LessOrEqual(t, largest, 2*perTTL)
}

// An estimate is only as good as the latest count: a count that started
// earlier but ended later must not replace it.
func TestPendingCacheKeepsLatestCount(t *testing.T) {
	t.Parallel()
	c := &PendingCache{now: clocktest.New().Now}
	const limit = 10

	_, _, _, slow := c.admit("a", limit)
	_, _, _, fast := c.admit("a", limit)
	require.NotNil(t, slow)
	require.NotNil(t, fast)
	c.counted(fast, limit, limit-1, true) // and enqueues one: 10
	c.counted(slow, limit, 0, true)       // saw none of them, enqueues one: 11

	_, _, _, ticket := c.admit("a", limit)
	require.NotNil(t, ticket, "at its cap by its own enqueues, the client is counted again")
}

// A count that failed decides nothing: the next enqueue counts.
func TestPendingCacheFailedCount(t *testing.T) {
	t.Parallel()
	c := &PendingCache{now: clocktest.New().Now}

	_, _, _, ticket := c.admit("a", 10)
	require.NotNil(t, ticket)
	c.counted(ticket, 10, 0, false)
	_, _, _, ticket = c.admit("a", 10)
	require.NotNil(t, ticket)
	c.counted(ticket, 10, 0, true)
	n, room, _, ticket := c.admit("a", 10)
	require.Nil(t, ticket)
	require.True(t, room)
	require.Equal(t, 1, n, "the count and the enqueue it let through")
}

// An enqueue let through and then released gives its room back to the
// estimate it is in, and to no other.
func TestPendingCacheRelease(t *testing.T) {
	t.Parallel()
	const limit = 3

	t.Run("LetThroughAfterTheCount", func(t *testing.T) {
		t.Parallel()
		c := &PendingCache{now: clocktest.New().Now}
		_, _, _, ticket := c.admit("a", limit)
		_, room, _, first := c.counted(ticket, limit, 0, true)
		require.True(t, room)
		_, room, second, _ := c.admit("a", limit)
		require.True(t, room)

		c.release(second)
		c.release(first)
		n, room, _, ticket := c.admit("a", limit)
		require.Nil(t, ticket)
		require.True(t, room)
		require.Zero(t, n, "both released")
	})

	t.Run("LetThroughBeforeTheCount", func(t *testing.T) {
		t.Parallel()
		clock := clocktest.New()
		c := &PendingCache{now: clock.Now}
		_, _, _, ticket := c.admit("a", limit)
		_, _, _, early := c.counted(ticket, limit, 0, true)
		clock.Advance(PendingCacheTTL)
		_, _, _, ticket = c.admit("a", limit)
		// The count read while early was in flight: it is not in it.
		_, room, _, _ := c.counted(ticket, limit, 0, true)
		require.True(t, room)

		c.release(early)
		n, room, _, _ := c.admit("a", limit)
		require.True(t, room)
		require.Equal(t, 1, n, "early was never in the estimate: only the enqueue that counted is")
	})

	t.Run("DuringACount", func(t *testing.T) {
		t.Parallel()
		c := &PendingCache{now: clocktest.New().Now}
		_, _, _, slow := c.admit("a", limit)
		_, _, _, fast := c.admit("a", limit)
		_, room, _, failed := c.counted(slow, limit, 0, true)
		require.True(t, room)
		c.release(failed) // let through after fast started
		n, room, _, _ := c.counted(fast, limit, 0, true)
		require.True(t, room)
		require.Zero(t, n, "the released enqueue is not in fast's estimate")

		n, room, _, _ = c.admit("a", limit)
		require.True(t, room)
		require.Equal(t, 1, n, "fast's count and fast's own enqueue")
	})
}

// The enqueue that counted is let through only when its count plus what
// the process let through while it ran is under the cap. On its count
// alone, a count that ran while an older one let enqueues through would
// let the client exceed the bound ErrTooManyPending states.
func TestPendingCacheCountedSeesOwnEnqueues(t *testing.T) {
	t.Parallel()
	c := &PendingCache{now: clocktest.New().Now}
	const limit = 10

	// With four connections: an older count reads 6 while three enqueues
	// are in flight, which commit before a newer count reads 9.
	_, _, _, older := c.admit("a", limit)
	_, _, _, newer := c.admit("a", limit)
	n, room, _, _ := c.counted(older, limit, 6, true)
	require.True(t, room)
	require.Equal(t, 6, n)
	for want := 7; want < limit; want++ {
		n, room, _, ticket := c.admit("a", limit)
		require.Nil(t, ticket)
		require.True(t, room)
		require.Equal(t, want, n)
	}
	// Letting newer through as well would make 9 + 4 = 13 enqueued, plus
	// the three in flight: 14, over the cap by more than the enqueues that
	// can overlap.
	n, room, again, _ := c.counted(newer, limit, 9, true)
	require.False(t, room)
	require.True(t, again, "its count showed room: only another count can refuse")
	require.Equal(t, 13, n)
	_, _, _, ticket := c.admit("a", limit)
	require.NotNil(t, ticket, "the next enqueue counts")
}

// countingDB counts the statements run through it, and runs during before
// each one: another enqueue of the process, let through while it reads.
type countingDB struct {
	store.DBTX
	statements int
	during     func()
}

func (d *countingDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	d.statements++
	d.during()
	return d.DBTX.QueryRow(ctx, sql, args...)
}

// A count is inconclusive while the process's own enqueues fill the cap as
// it reads: the enqueue counts again, up to pendingMaxCounts times, and
// then is refused; released, those enqueues leave it room.
func TestPendingCacheInconclusiveCounts(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	const limit = 1

	for _, tt := range []struct {
		name       string
		released   bool
		wantRoom   bool
		wantCounts int
	}{
		{name: "InFlight", released: false, wantRoom: false, wantCounts: pendingMaxCounts},
		{name: "Released", released: true, wantRoom: true, wantCounts: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &PendingCache{now: clocktest.New().Now}
			db := &countingDB{DBTX: pool}
			db.during = func() {
				n, room, admitted, ticket := c.admit(tt.name, limit)
				if ticket != nil {
					n, room, _, admitted = c.counted(ticket, limit, 0, true)
				}
				require.True(t, room, "n=%d", n)
				if tt.released {
					c.release(admitted)
				}
			}

			n, room, _, err := c.check(ctx, db, tt.name, limit)
			require.NoError(t, err)
			require.Equal(t, tt.wantRoom, room)
			require.Equal(t, tt.wantCounts, db.statements)
			if !room {
				require.Equal(t, limit, n, "refused on the count and the enqueues let through while it ran")
			}
		})
	}
}

// An enqueue that inserts nothing does not take the client's room: the
// cache still lets the next enqueues through without counting.
func TestPendingCacheFailedEnqueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const (
		limit = 2
		input = `{"prompt":"a lighthouse at dusk","image_prompt_1":{"image_url":"https://example.com/ref.png"}}`
	)

	for _, tt := range []struct {
		name string
		// fail makes an enqueue that c lets through and that inserts
		// nothing, after a first one with the key "first" and input.
		fail    func(t *testing.T, pool *pgxpool.Pool, opts *EnqueueOpts) error
		wantErr error
	}{
		{name: "IdempotencyConflict", wantErr: ErrIdempotencyConflict,
			fail: func(t *testing.T, pool *pgxpool.Pool, opts *EnqueueOpts) error {
				opts.IdempotencyKey, opts.Priority = "first", 4
				_, err := EnqueuePool(ctx, pool, "billing", input, opts)
				return err
			}},
		{name: "Replay",
			fail: func(t *testing.T, pool *pgxpool.Pool, opts *EnqueueOpts) error {
				opts.IdempotencyKey = "first"
				enqueued, err := EnqueuePool(ctx, pool, "billing", input, opts)
				require.NoError(t, err)
				require.True(t, enqueued.Replayed)
				return nil
			}},
		{name: "JobInsertFails", wantErr: errJobInsert,
			fail: func(t *testing.T, pool *pgxpool.Pool, opts *EnqueueOpts) error {
				e, err := newEnqueue("billing", input, opts)
				require.NoError(t, err)
				e.inserter = func() (*river.Client[pgx.Tx], error) { return nil, errJobInsert }
				return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					_, err := e.write(ctx, tx, func() pgx.Tx { return tx })
					return err
				})
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pool := dbtest.Pool(t)
			c := &PendingCache{now: clocktest.New().Now}
			opts := func() *EnqueueOpts { return &EnqueueOpts{MaxPending: limit, PendingCache: c} }

			first := opts()
			first.IdempotencyKey = "first"
			_, err := EnqueuePool(ctx, pool, "billing", input, first) // counts 0
			require.NoError(t, err)
			for range 3 { // more than the room left
				err := tt.fail(t, pool, opts())
				if tt.wantErr == nil {
					require.NoError(t, err)
				} else {
					require.ErrorIs(t, err, tt.wantErr)
				}
			}

			n, room, _, ticket := c.admit("billing", limit)
			require.Nil(t, ticket, "no count needed")
			require.True(t, room)
			require.Equal(t, 1, n, "only the first enqueue is in the estimate")
			pending, err := store.CountPending(ctx, pool, "billing", 10)
			require.NoError(t, err)
			require.Equal(t, 1, pending)
		})
	}
}

var errJobInsert = errors.New("insert job: connection reset")
