package store_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// historyDurations is what generation_history reports of a generation's
// submission.
type historyDurations struct {
	SubmittedAt    *time.Time
	QueueSeconds   *float64
	FalSeconds     *float64
	TimeToComplete *float64
}

func (b *testBundle) historyDurations(t *testing.T, id uuid.UUID) historyDurations {
	t.Helper()
	var d historyDurations
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT submitted_at, queue_seconds, fal_seconds, time_to_complete_seconds
		FROM generation_history WHERE id = $1`, id).Scan(&d.SubmittedAt, &d.QueueSeconds, &d.FalSeconds, &d.TimeToComplete))
	return d
}

// completeByWebhook finishes generation id with requestID's result, as a
// signed webhook does.
func (b *testBundle) completeByWebhook(t *testing.T, id uuid.UUID, requestID string) {
	t.Helper()
	tx, _, err := store.LockWebhookTarget(b.ctx, b.pool, id, requestID)
	require.NoError(t, err)
	defer tx.Close(b.ctx)
	finished, err := tx.Record(b.ctx, completionWrite(requestID))
	require.NoError(t, err)
	require.NotNil(t, finished, "the webhook finished it")
}

// A generation that finished while its submit call was waiting for fal's
// answer (its webhook came first, or it was cancelled) gets no submitted_at
// from the answer recorded after the finish: stamped then, it would make
// fal_seconds negative and queue_seconds longer than the whole generation.
// The answer is counted as confirmed all the same, and a generation whose
// answer came first is stamped as always.
func TestRecordSubmittedAfterFinishLeavesSubmittedAt(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		// finish runs between the submission's mark and fal's answer.
		finish func(t *testing.T, b *testBundle, id uuid.UUID)
		// after runs once the answer is recorded.
		after func(t *testing.T, b *testBundle, id uuid.UUID)

		wantStatus    store.Status
		wantSubmitted bool
	}{
		{
			name:          "answer first, then the webhook",
			finish:        func(*testing.T, *testBundle, uuid.UUID) {},
			after:         func(t *testing.T, b *testBundle, id uuid.UUID) { b.completeByWebhook(t, id, "req-1") },
			wantStatus:    store.StatusCompleted,
			wantSubmitted: true,
		},
		{
			name:       "webhook before the answer",
			finish:     func(t *testing.T, b *testBundle, id uuid.UUID) { b.completeByWebhook(t, id, "req-1") },
			after:      func(*testing.T, *testBundle, uuid.UUID) {},
			wantStatus: store.StatusCompleted,
		},
		{
			name: "cancelled during the call",
			finish: func(t *testing.T, b *testBundle, id uuid.UUID) {
				cancelled, err := store.Cancel(b.ctx, b.pool, id, "cancelled by caller")
				require.NoError(t, err)
				require.True(t, cancelled)
			},
			after:      func(*testing.T, *testBundle, uuid.UUID) {},
			wantStatus: store.StatusCancelled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			g := b.insert(t, "")
			_, err := store.MarkSubmitting(b.ctx, b.pool, g.ID)
			require.NoError(t, err)
			tt.finish(t, b, g.ID)

			recorded, err := store.RecordSubmitted(b.ctx, b.pool, g.ID,
				store.Submission{RequestID: "req-1", StatusURL: "status-1", ResponseURL: "response-1", CancelURL: "cancel-1"})
			require.NoError(t, err)
			require.Equal(t, "req-1", *recorded.FalRequestID)
			tt.after(t, b, g.ID)

			got, err := store.GetGeneration(b.ctx, b.pool, g.ID)
			require.NoError(t, err)
			require.Equal(t, tt.wantStatus, got.Status)
			require.Equal(t, [2]int{1, 1}, [2]int{got.FalSubmissions, got.FalSubmissionsConfirmed},
				"fal's answer confirms the submission however late it is recorded")
			submissions, confirmed := b.accounting(t, g.ID)
			require.Equal(t, [2]int{1, 1}, [2]int{submissions, confirmed})

			d := b.historyDurations(t, g.ID)
			if !tt.wantSubmitted {
				require.Nil(t, got.SubmittedAt)
				require.Equal(t, historyDurations{TimeToComplete: d.TimeToComplete}, d,
					"no submission time, so no queue or fal duration")
				if tt.wantStatus == store.StatusCompleted {
					require.NotNil(t, d.TimeToComplete)
				}
				return
			}
			require.NotNil(t, got.SubmittedAt)
			require.False(t, got.SubmittedAt.After(*got.CompletedAt), "submitted %s, completed %s", got.SubmittedAt, got.CompletedAt)
			require.NotNil(t, d.QueueSeconds)
			require.NotNil(t, d.FalSeconds)
			require.GreaterOrEqual(t, *d.QueueSeconds, 0.0)
			require.GreaterOrEqual(t, *d.FalSeconds, 0.0)
			require.LessOrEqual(t, *d.QueueSeconds, *d.TimeToComplete)
		})
	}
}
