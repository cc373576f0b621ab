package store_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// accounting returns generation id's fal_submissions and
// fal_submissions_confirmed.
func (b *testBundle) accounting(t *testing.T, id uuid.UUID) (submissions, confirmed int) {
	t.Helper()
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT fal_submissions, fal_submissions_confirmed FROM generations WHERE id = $1`, id).
		Scan(&submissions, &confirmed))
	return submissions, confirmed
}

// A submission fal refused is taken off the count whatever became of the
// generation during the call, and first_submitting_at goes with the last
// counted one; the error is noted only on a generation still unfinished.
func TestRecordSubmitRefused(t *testing.T) {
	t.Parallel()

	// mark counts a submission, as a submit call does before calling fal.
	mark := func(t *testing.T, b *testBundle, id uuid.UUID) {
		t.Helper()
		_, err := store.MarkSubmitting(b.ctx, b.pool, id)
		require.NoError(t, err)
	}
	// lostThenMarked is a submission whose answer was lost, then another.
	lostThenMarked := func(t *testing.T, b *testBundle, id uuid.UUID) {
		t.Helper()
		mark(t, b, id)
		require.NoError(t, store.RecordSubmitError(b.ctx, b.pool, id, "fal_unreachable", "EOF"))
		mark(t, b, id)
	}

	tests := []struct {
		name string
		// submit leaves the generation as it is when fal refuses its latest
		// submission.
		submit func(t *testing.T, b *testBundle, id uuid.UUID)

		wantSubmissions     int
		wantFirst           bool // first_submitting_at kept
		wantStatus          store.Status
		wantCode, wantError string // "": no error
	}{
		{
			name: "the only submission", submit: mark,
			wantStatus: store.StatusQueued, wantCode: "fal_rate_limited", wantError: "HTTP 429",
		},
		{
			name: "after one whose answer was lost", submit: lostThenMarked,
			wantSubmissions: 1, wantFirst: true,
			wantStatus: store.StatusQueued, wantCode: "fal_rate_limited", wantError: "HTTP 429",
		},
		{
			name: "cancelled during the call",
			submit: func(t *testing.T, b *testBundle, id uuid.UUID) {
				mark(t, b, id)
				cancelled, err := store.Cancel(b.ctx, b.pool, id, "cancelled while its submission to fal was under way")
				require.NoError(t, err)
				require.True(t, cancelled)
			},
			wantStatus: store.StatusCancelled, wantCode: store.ErrorCodeCancelled, wantError: "cancelled while its submission to fal was under way",
		},
		{
			name: "completed during the call by the lost answer's request",
			submit: func(t *testing.T, b *testBundle, id uuid.UUID) {
				lostThenMarked(t, b, id)
				require.True(t, b.complete(t, id, store.Completion{FalRequestID: "req-1"}))
			},
			wantSubmissions: 1, wantFirst: true, wantStatus: store.StatusCompleted,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			g := b.insert(t, "")
			tt.submit(t, b, g.ID)

			require.NoError(t, store.RecordSubmitRefused(b.ctx, b.pool, g.ID, "fal_rate_limited", "HTTP 429"))
			submissions, _ := b.accounting(t, g.ID)
			require.Equal(t, tt.wantSubmissions, submissions)
			first, _ := b.submissionTimes(t, g.ID)
			require.Equal(t, tt.wantFirst, first != nil, "first_submitting_at: %v", first)
			got, err := store.GetGeneration(b.ctx, b.pool, g.ID)
			require.NoError(t, err)
			require.Equal(t, tt.wantStatus, got.Status)
			if tt.wantCode == "" {
				require.Nil(t, got.ErrorCode)
			} else {
				require.Equal(t, tt.wantCode, *got.ErrorCode)
				require.Equal(t, tt.wantError, *got.ErrorMessage)
			}
		})
	}
}
