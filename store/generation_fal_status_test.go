package store_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

func intPtr(n int) *int { return &n }

// polled returns a generation submitted an hour ago, as it now is, with
// its fal request: one the reconciler asks fal about.
func (b *testBundle) polled(t *testing.T) *store.Generation {
	t.Helper()
	g, err := store.GetGeneration(b.ctx, b.pool, b.submitted(t, time.Hour).ID)
	require.NoError(t, err)
	require.NotNil(t, g.FalRequestID)
	return g
}

// What fal answers the reconciler's status poll is noted on the row, the
// position only with IN_QUEUE; an answer about a request the generation
// does not record, or for a finished one, writes nothing.
func TestRecordFalStatus(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name     string
		finished bool
		// otherRequest asks about a request the generation does not record.
		otherRequest bool
		status       string
		position     *int
		wantWritten  bool
		wantStatus   string
		wantPosition *int
	}{
		{name: "IN_QUEUE with its position", status: "IN_QUEUE", position: intPtr(3), wantWritten: true, wantStatus: "IN_QUEUE", wantPosition: intPtr(3)},
		{name: "IN_QUEUE next to run", status: "IN_QUEUE", position: intPtr(0), wantWritten: true, wantStatus: "IN_QUEUE", wantPosition: intPtr(0)},
		{name: "IN_QUEUE without a position", status: "IN_QUEUE", wantWritten: true, wantStatus: "IN_QUEUE"},
		{name: "a negative position is none", status: "IN_QUEUE", position: intPtr(-1), wantWritten: true, wantStatus: "IN_QUEUE"},
		{name: "a position beyond integer is none", status: "IN_QUEUE", position: intPtr(1 << 40), wantWritten: true, wantStatus: "IN_QUEUE"},
		{name: "IN_PROGRESS has no position", status: "IN_PROGRESS", position: intPtr(2), wantWritten: true, wantStatus: "IN_PROGRESS"},
		{name: "COMPLETED, its result not fetched", status: "COMPLETED", wantWritten: true, wantStatus: "COMPLETED"},
		{name: "a request the generation does not record", otherRequest: true, status: "IN_QUEUE", position: intPtr(1)},
		{name: "a finished generation", finished: true, status: "IN_PROGRESS"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			g := b.polled(t)
			if tt.finished {
				_, err := store.Fail(b.ctx, b.pool, g.ID, "timeout", "fal did not finish")
				require.NoError(t, err)
			}
			requestID := *g.FalRequestID
			if tt.otherRequest {
				requestID = "req-superseded"
			}

			written, err := store.RecordFalStatus(b.ctx, b.pool, g.ID, requestID, tt.status, tt.position)
			require.NoError(t, err)
			require.Equal(t, tt.wantWritten, written)

			got, err := store.GetGeneration(b.ctx, b.pool, g.ID)
			require.NoError(t, err)
			if !tt.wantWritten {
				require.Nil(t, got.FalStatus)
				require.Nil(t, got.FalQueuePosition)
				require.Nil(t, got.FalStatusAt)
				return
			}
			require.Equal(t, tt.wantStatus, *got.FalStatus)
			require.Equal(t, tt.wantPosition, got.FalQueuePosition)
			require.NotNil(t, got.FalStatusAt)
			require.WithinDuration(t, time.Now(), *got.FalStatusAt, time.Minute)
			require.False(t, got.UpdatedAt.Before(*got.FalStatusAt), "updated_at bumped with it")
		})
	}
}

// A status fal sent garbled is stored as far as Postgres can hold it,
// never failing the reconciler's run.
func TestRecordFalStatusGarbled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.polled(t)

	written, err := store.RecordFalStatus(b.ctx, b.pool, g.ID, *g.FalRequestID, "IN_\x00QUEUE\xff"+strings.Repeat("é", 100), intPtr(4))
	require.NoError(t, err)
	require.True(t, written)

	got, err := store.GetGeneration(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(*got.FalStatus, "IN_\uFFFDQUEUE\uFFFD"), *got.FalStatus)
	require.LessOrEqual(t, len(*got.FalStatus), 64)
	require.True(t, utf8.ValidString(*got.FalStatus))
	require.Nil(t, got.FalQueuePosition, "not fal's IN_QUEUE")
}

// The latest answer replaces the one before; the generation's finish keeps
// it as history; a result of another request, which becomes the
// generation's, clears it, as it was about the request it replaces.
func TestFalStatusLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	get := func(t *testing.T, g *store.Generation) *store.Generation {
		t.Helper()
		got, err := store.GetGeneration(b.ctx, b.pool, g.ID)
		require.NoError(t, err)
		return got
	}

	t.Run("the latest answer wins", func(t *testing.T) {
		t.Parallel()
		g := b.polled(t)
		_, err := store.RecordFalStatus(b.ctx, b.pool, g.ID, *g.FalRequestID, "IN_QUEUE", intPtr(5))
		require.NoError(t, err)
		_, err = store.RecordFalStatus(b.ctx, b.pool, g.ID, *g.FalRequestID, "IN_PROGRESS", nil)
		require.NoError(t, err)
		got := get(t, g)
		require.Equal(t, "IN_PROGRESS", *got.FalStatus)
		require.Nil(t, got.FalQueuePosition, "the position of the earlier answer goes with it")
	})

	t.Run("kept once finished", func(t *testing.T) {
		t.Parallel()
		g := b.polled(t)
		_, err := store.RecordFalStatus(b.ctx, b.pool, g.ID, *g.FalRequestID, "IN_QUEUE", intPtr(40))
		require.NoError(t, err)
		failed, err := store.Fail(b.ctx, b.pool, g.ID, store.ErrorCodeTimeout, "fal did not finish")
		require.NoError(t, err)
		require.True(t, failed)
		got := get(t, g)
		require.Equal(t, store.StatusFailed, got.Status)
		require.Equal(t, "IN_QUEUE", *got.FalStatus, "what fal said last before the end")
		require.Equal(t, 40, *got.FalQueuePosition)
	})

	t.Run("cleared by another request's result", func(t *testing.T) {
		t.Parallel()
		g := b.polled(t)
		_, err := store.RecordFalStatus(b.ctx, b.pool, g.ID, *g.FalRequestID, "IN_PROGRESS", nil)
		require.NoError(t, err)
		require.NoError(t, pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
			superseded, err := store.TakeResultRequest(b.ctx, tx, g.ID, "req-earlier")
			require.Equal(t, *g.FalRequestID, superseded)
			return err
		}))
		got := get(t, g)
		require.Equal(t, "req-earlier", *got.FalRequestID)
		require.Nil(t, got.FalStatus)
		require.Nil(t, got.FalStatusAt)

		written, err := store.RecordFalStatus(b.ctx, b.pool, g.ID, *g.FalRequestID, "IN_PROGRESS", nil)
		require.NoError(t, err)
		require.False(t, written, "a late answer about the replaced request writes nothing")
		require.Nil(t, get(t, g).FalStatus)
	})
}
