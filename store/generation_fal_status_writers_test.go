package store_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// falStatusOf returns what generation id records of fal's status.
func (b *testBundle) falStatusOf(t *testing.T, id uuid.UUID) (status *string, position *int, at *time.Time) {
	t.Helper()
	got, err := store.GetGeneration(b.ctx, b.pool, id)
	require.NoError(t, err)
	return got.FalStatus, got.FalQueuePosition, got.FalStatusAt
}

// requireFalStatus requires generation id to record fal's status want
// with position, stamped no earlier than since.
func (b *testBundle) requireFalStatus(t *testing.T, id uuid.UUID, want string, position *int, since time.Time) {
	t.Helper()
	status, gotPosition, at := b.falStatusOf(t, id)
	require.NotNil(t, status, "fal's status recorded")
	require.Equal(t, want, *status)
	require.Equal(t, position, gotPosition)
	require.NotNil(t, at)
	require.False(t, at.Before(since), "stamped %s, before %s", at, since)
}

// The answer to a submit records the request IN_QUEUE with fal's position
// on a generation still unfinished, in the statement that records the
// answer; a generation that finished first keeps what it had, as it keeps
// its request.
func TestRecordSubmittedRecordsFalStatus(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name string
		// finish runs between the submission's mark and fal's answer.
		finish       func(t *testing.T, b *testBundle, id uuid.UUID)
		seen         store.FalStatus
		wantStatus   *string
		wantPosition *int
	}{
		{
			name:         "queued with requests ahead",
			seen:         store.FalStatus{Status: "IN_QUEUE", QueuePosition: intPtr(12)},
			wantStatus:   ptr("IN_QUEUE"),
			wantPosition: intPtr(12),
		},
		{
			name:       "fal gave no position",
			seen:       store.FalStatus{Status: "IN_QUEUE"},
			wantStatus: ptr("IN_QUEUE"),
		},
		{
			name: "nothing said of its status",
		},
		{
			name:       "its webhook finished it first",
			finish:     func(t *testing.T, b *testBundle, id uuid.UUID) { b.completeByWebhook(t, id, "req-1") },
			seen:       store.FalStatus{Status: "IN_QUEUE", QueuePosition: intPtr(3)},
			wantStatus: ptr("COMPLETED"),
		},
		{
			name: "cancelled during the call",
			finish: func(t *testing.T, b *testBundle, id uuid.UUID) {
				cancelled, err := store.Cancel(b.ctx, b.pool, id, "cancelled by caller")
				require.NoError(t, err)
				require.True(t, cancelled)
			},
			seen: store.FalStatus{Status: "IN_QUEUE", QueuePosition: intPtr(3)},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			g := b.insert(t, "")
			_, err := store.MarkSubmitting(b.ctx, b.pool, g.ID)
			require.NoError(t, err)
			if tt.finish != nil {
				tt.finish(t, b, g.ID)
			}

			recorded, err := store.RecordSubmitted(b.ctx, b.pool, g.ID,
				store.Submission{RequestID: "req-1", StatusURL: "status-1", ResponseURL: "response-1", CancelURL: "cancel-1", FalStatus: tt.seen})
			require.NoError(t, err)
			require.Equal(t, tt.wantStatus, recorded.FalStatus, "returned as it now is")

			status, position, at := b.falStatusOf(t, g.ID)
			require.Equal(t, tt.wantStatus, status)
			require.Equal(t, tt.wantPosition, position)
			require.Equal(t, tt.wantStatus != nil, at != nil)
		})
	}
}

// A webhook fal revealed a request with is adopted with what fal answered
// when asked about it.
func TestAdoptSubmissionRecordsFalStatus(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insert(t, "")
	_, err := store.MarkSubmitting(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `UPDATE generations SET fal_request_id = 'req-1' WHERE id = $1`, g.ID)
	require.NoError(t, err)
	start := time.Now().Add(-time.Second)

	_, err = store.AdoptSubmission(b.ctx, b.pool, g.ID, store.Submission{
		RequestID: "req-1", StatusURL: "status-1", ResponseURL: "response-1", CancelURL: "cancel-1",
		FalStatus: store.FalStatus{Status: "IN_PROGRESS", QueuePosition: intPtr(2)},
	})
	require.NoError(t, err)
	b.requireFalStatus(t, g.ID, "IN_PROGRESS", nil, start)
}

// A result of fal's, by webhook or fetched, records the request COMPLETED
// with no position in the statement that finishes the generation: what a
// poll saw before is no longer true. A finish that is no result of fal's
// (a timeout, a cancel) keeps what fal said last.
func TestResultRecordsFalStatusCompleted(t *testing.T) {
	t.Parallel()

	webhook := func(finish *store.Finish) func(t *testing.T, b *testBundle, g *store.Generation) {
		return func(t *testing.T, b *testBundle, g *store.Generation) {
			tx, _, err := store.LockWebhookTarget(b.ctx, b.pool, g.ID, *g.FalRequestID)
			require.NoError(t, err)
			defer tx.Close(b.ctx)
			w := completionWrite(*g.FalRequestID)
			if finish != nil {
				w.Finish = finish
			}
			finished, err := tx.Record(b.ctx, w)
			require.NoError(t, err)
			require.NotNil(t, finished)
		}
	}
	for _, tt := range []struct {
		name          string
		finish        func(t *testing.T, b *testBundle, g *store.Generation)
		wantCompleted bool
	}{
		{name: "webhook completes it", finish: webhook(nil), wantCompleted: true},
		{
			name:          "webhook with fal's error fails it",
			finish:        webhook(&store.Finish{ErrorCode: "content_policy_violation", ErrorMessage: "flagged"}),
			wantCompleted: true,
		},
		{
			name: "polled result completes it",
			finish: func(t *testing.T, b *testBundle, g *store.Generation) {
				require.True(t, b.complete(t, g.ID, store.Completion{FalRequestID: *g.FalRequestID}))
			},
			wantCompleted: true,
		},
		{
			name: "polled error fails it",
			finish: func(t *testing.T, b *testBundle, g *store.Generation) {
				failed, err := store.FailWithResult(b.ctx, b.pool, g.ID, "runner_scheduling_failure", "no runner")
				require.NoError(t, err)
				require.True(t, failed)
			},
			wantCompleted: true,
		},
		{
			name: "failed by Easel",
			finish: func(t *testing.T, b *testBundle, g *store.Generation) {
				failed, err := store.Fail(b.ctx, b.pool, g.ID, store.ErrorCodeResultUnavailable, "gone")
				require.NoError(t, err)
				require.True(t, failed)
			},
		},
		{
			name: "cancelled",
			finish: func(t *testing.T, b *testBundle, g *store.Generation) {
				cancelled, err := store.Cancel(b.ctx, b.pool, g.ID, "cancelled at fal")
				require.NoError(t, err)
				require.True(t, cancelled)
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			g := b.polled(t)
			_, err := store.RecordFalStatus(b.ctx, b.pool, g.ID, *g.FalRequestID, "IN_QUEUE", intPtr(7))
			require.NoError(t, err)
			_, _, polledAt := b.falStatusOf(t, g.ID)

			tt.finish(t, b, g)
			if tt.wantCompleted {
				b.requireFalStatus(t, g.ID, "COMPLETED", nil, *polledAt)
				return
			}
			status, position, at := b.falStatusOf(t, g.ID)
			require.Equal(t, "IN_QUEUE", *status, "what fal said last before the end")
			require.Equal(t, 7, *position)
			require.True(t, polledAt.Equal(*at))
		})
	}
}

// A generation whose request Easel cancels at fal, for a timeout or a
// client's cancel, records with the cancel what fal said of the request
// just before; with nothing said (fal could not be asked) it keeps what it
// had.
func TestCancelRecordsFalStatusSeen(t *testing.T) {
	t.Parallel()

	timeOut := func(t *testing.T, b *testBundle, g *store.Generation, seen store.FalStatus) {
		_, err := store.PrepareTimeout(b.ctx, b.pool, g.ID)
		require.NoError(t, err)
		failed, err := store.FailTimedOut(b.ctx, b.pool, g.ID, g.FalRequestID, store.ErrorCodeTimeout, "fal did not finish",
			store.FalCancelRequested, "", seen)
		require.NoError(t, err)
		require.True(t, failed)
	}
	cancel := func(t *testing.T, b *testBundle, g *store.Generation, seen store.FalStatus) {
		cancelled, err := store.CancelAtFal(b.ctx, b.pool, g.ID, *g.FalRequestID, "cancelled at fal", seen)
		require.NoError(t, err)
		require.True(t, cancelled)
	}
	for _, tt := range []struct {
		name         string
		end          func(t *testing.T, b *testBundle, g *store.Generation, seen store.FalStatus)
		seen         store.FalStatus
		wantStatus   string
		wantPosition *int
		wantStamped  bool
	}{
		{name: "timeout of a running request", end: timeOut, seen: store.FalStatus{Status: "IN_PROGRESS"}, wantStatus: "IN_PROGRESS", wantStamped: true},
		{name: "timeout of a queued request", end: timeOut, seen: store.FalStatus{Status: "IN_QUEUE", QueuePosition: intPtr(4)},
			wantStatus: "IN_QUEUE", wantPosition: intPtr(4), wantStamped: true},
		{name: "timeout, fal not asked", end: timeOut, wantStatus: "IN_QUEUE", wantPosition: intPtr(40)},
		{name: "cancel of a running request", end: cancel, seen: store.FalStatus{Status: "IN_PROGRESS", QueuePosition: intPtr(1)},
			wantStatus: "IN_PROGRESS", wantStamped: true},
		{name: "cancel of a queued request", end: cancel, seen: store.FalStatus{Status: "IN_QUEUE", QueuePosition: intPtr(0)},
			wantStatus: "IN_QUEUE", wantPosition: intPtr(0), wantStamped: true},
		{name: "cancel, fal not asked", end: cancel, wantStatus: "IN_QUEUE", wantPosition: intPtr(40)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			g := b.polled(t)
			_, err := store.RecordFalStatus(b.ctx, b.pool, g.ID, *g.FalRequestID, "IN_QUEUE", intPtr(40))
			require.NoError(t, err)
			_, _, polledAt := b.falStatusOf(t, g.ID)

			tt.end(t, b, g, tt.seen)
			status, position, at := b.falStatusOf(t, g.ID)
			require.Equal(t, tt.wantStatus, *status)
			require.Equal(t, tt.wantPosition, position)
			require.Equal(t, tt.wantStamped, !polledAt.Equal(*at), "stamped anew only with what fal said")
		})
	}
}

// What fal said of a request the generation no longer records is not
// recorded with its cancel.
func TestCancelAtFalIgnoresOtherRequestsStatus(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.polled(t)
	require.NoError(t, pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		_, err := store.TakeResultRequest(b.ctx, tx, g.ID, "req-earlier")
		return err
	}))

	cancelled, err := store.CancelAtFal(b.ctx, b.pool, g.ID, *g.FalRequestID, "cancelled at fal", store.FalStatus{Status: "IN_PROGRESS"})
	require.NoError(t, err)
	require.True(t, cancelled)
	status, position, at := b.falStatusOf(t, g.ID)
	require.Nil(t, status)
	require.Nil(t, position)
	require.Nil(t, at)
}
