package store_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// fal's answer recorded after the generation finished never replaces the
// request it finished with, nor that request's ids and URLs: they must stay
// consistent for the reconciler, cancel and the timeline.
func TestRecordSubmittedAfterFinish(t *testing.T) {
	t.Parallel()

	b2 := store.Submission{RequestID: "req-B", GatewayRequestID: "gw-B", StatusURL: "status-B", ResponseURL: "response-B", CancelURL: "cancel-B"}
	str := func(s string) *string { return &s }

	tests := []struct {
		name string
		// finish finishes the generation, whose submission is counted.
		finish func(t *testing.T, b *testBundle, id uuid.UUID)

		wantStatus                     store.Status
		wantRequestID, wantGateway     *string
		wantStatusURL, wantResponseURL *string
		wantCancelURL                  *string
	}{
		{
			name:       "not finished",
			finish:     func(*testing.T, *testBundle, uuid.UUID) {},
			wantStatus: store.StatusSubmitted, wantRequestID: str("req-B"), wantGateway: str("gw-B"),
			wantStatusURL: str("status-B"), wantResponseURL: str("response-B"), wantCancelURL: str("cancel-B"),
		},
		{
			name: "completed by this request's webhook first",
			finish: func(t *testing.T, b *testBundle, id uuid.UUID) {
				require.True(t, b.complete(t, id, store.Completion{FalRequestID: "req-B"}))
			},
			wantStatus: store.StatusCompleted, wantRequestID: str("req-B"), wantGateway: str("gw-B"),
			wantStatusURL: str("status-B"), wantResponseURL: str("response-B"), wantCancelURL: str("cancel-B"),
		},
		{
			name: "completed by another request",
			finish: func(t *testing.T, b *testBundle, id uuid.UUID) {
				require.True(t, b.complete(t, id, store.Completion{FalRequestID: "req-A"}))
			},
			wantStatus: store.StatusCompleted, wantRequestID: str("req-A"),
		},
		{
			name: "cancelled before any request was known",
			finish: func(t *testing.T, b *testBundle, id uuid.UUID) {
				_, err := store.Cancel(b.ctx, b.pool, id, "cancelled by caller")
				require.NoError(t, err)
			},
			wantStatus: store.StatusCancelled, wantRequestID: str("req-B"), wantGateway: str("gw-B"),
			wantStatusURL: str("status-B"), wantResponseURL: str("response-B"), wantCancelURL: str("cancel-B"),
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

			got, err := store.RecordSubmitted(b.ctx, b.pool, g.ID, b2)
			require.NoError(t, err)
			require.Equal(t, tt.wantStatus, got.Status)
			require.Equal(t, tt.wantRequestID, got.FalRequestID)
			require.Equal(t, tt.wantGateway, got.FalGatewayRequestID)
			require.Equal(t, tt.wantStatusURL, got.FalStatusURL)
			require.Equal(t, tt.wantResponseURL, got.FalResponseURL)
			require.Equal(t, tt.wantCancelURL, got.FalCancelURL)
		})
	}
}

// Only the request a webhook noted on a still-queued generation can be
// adopted or forgotten.
func TestAdoptOrForgetRevealedRequest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insert(t, "")
	_, err := store.MarkSubmitting(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	revealed := store.Submission{RequestID: "req-1", StatusURL: "s", ResponseURL: "r", CancelURL: "c"}

	_, err = store.AdoptSubmission(b.ctx, b.pool, g.ID, revealed)
	require.ErrorIs(t, err, store.ErrNotFound, "no webhook named it")

	require.NoError(t, store.NoteWebhook(b.ctx, b.pool, g.ID, "req-1"))
	forgotten, err := store.ForgetRequest(b.ctx, b.pool, g.ID, "req-2")
	require.NoError(t, err)
	require.False(t, forgotten, "not the request the webhook named")
	forgotten, err = store.ForgetRequest(b.ctx, b.pool, g.ID, "req-1")
	require.NoError(t, err)
	require.True(t, forgotten)
	got, err := store.GetGeneration(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	require.Nil(t, got.FalRequestID)
	require.Equal(t, store.StatusQueued, got.Status)

	require.NoError(t, store.NoteWebhook(b.ctx, b.pool, g.ID, "req-1"))
	adopted, err := store.AdoptSubmission(b.ctx, b.pool, g.ID, revealed)
	require.NoError(t, err)
	require.Equal(t, store.StatusSubmitted, adopted.Status)
	require.Equal(t, "s", *adopted.FalStatusURL)
	forgotten, err = store.ForgetRequest(b.ctx, b.pool, g.ID, "req-1")
	require.NoError(t, err)
	require.False(t, forgotten, "an adopted request is the generation's")
	_, err = store.AdoptSubmission(b.ctx, b.pool, g.ID, revealed)
	require.ErrorIs(t, err, store.ErrNotFound, "adopted once")
}

// RecordSubmitted retried after its COMMIT's answer was lost confirms the
// submission once, changing nothing, and so does an answer recorded after
// another was confirmed: fal_submissions_confirmed is never more than 1, so
// that every paid request beyond the first shows as an unconfirmed one.
func TestRecordSubmittedConfirmsOnce(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		// finish, when set, finishes the generation after the first record.
		finish func(t *testing.T, b *testBundle, id uuid.UUID)
		// second is what is recorded again.
		second store.Submission

		wantStatus store.Status
	}{
		{name: "the same answer again", second: store.Submission{RequestID: "req-1", StatusURL: "status-1"}, wantStatus: store.StatusSubmitted},
		{
			name: "the same answer, the generation completed meanwhile",
			finish: func(t *testing.T, b *testBundle, id uuid.UUID) {
				require.True(t, b.complete(t, id, store.Completion{FalRequestID: "req-1"}))
			},
			second: store.Submission{RequestID: "req-1", StatusURL: "status-1"}, wantStatus: store.StatusCompleted,
		},
		{
			name: "the same answer, the generation cancelled meanwhile",
			finish: func(t *testing.T, b *testBundle, id uuid.UUID) {
				_, err := store.Cancel(b.ctx, b.pool, id, "cancelled by caller")
				require.NoError(t, err)
			},
			second: store.Submission{RequestID: "req-1", StatusURL: "status-1"}, wantStatus: store.StatusCancelled,
		},
		{name: "another request's answer", second: store.Submission{RequestID: "req-2", StatusURL: "status-2"}, wantStatus: store.StatusSubmitted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			g := b.insert(t, "")
			for range 2 {
				_, err := store.MarkSubmitting(b.ctx, b.pool, g.ID)
				require.NoError(t, err)
			}
			_, err := store.RecordSubmitted(b.ctx, b.pool, g.ID, store.Submission{RequestID: "req-1", StatusURL: "status-1"})
			require.NoError(t, err)
			if tt.finish != nil {
				tt.finish(t, b, g.ID)
			}
			before, err := store.GetGeneration(b.ctx, b.pool, g.ID)
			require.NoError(t, err)

			got, err := store.RecordSubmitted(b.ctx, b.pool, g.ID, tt.second)
			require.NoError(t, err)
			require.Equal(t, before, got, "returned as it is")
			require.Equal(t, tt.wantStatus, got.Status)
			require.Equal(t, "req-1", *got.FalRequestID, "the confirmed request stays the generation's")
			after, err := store.GetGeneration(b.ctx, b.pool, g.ID)
			require.NoError(t, err)
			require.Equal(t, before, after, "nothing changed, updated_at included")
			submissions, confirmed := b.accounting(t, g.ID)
			require.Equal(t, [2]int{2, 1}, [2]int{submissions, confirmed})
		})
	}

	b := setup(t)
	_, err := store.RecordSubmitted(b.ctx, b.pool, uuid.New(), store.Submission{RequestID: "req-1"})
	require.ErrorIs(t, err, store.ErrNotFound)
}

// A request that fal's error answer named is recorded on a queued generation
// as a request a webhook named is, for the submit job to confirm with fal and
// adopt or forget; a request already recorded is left as it is. A generation
// that finished during the call keeps its finish (status, error,
// submitted_at NULL) but, recording no request, takes the named one, as
// RecordSubmitted gives it the request of an accepted submit, for the caller
// to cancel at fal.
func TestRecordSubmitErrorNamingRequest(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		// before runs after the submission was counted.
		before func(t *testing.T, b *testBundle, id uuid.UUID)

		wantStatus                         store.Status
		wantRequestID, wantCode, wantError *string
	}{
		{name: "queued, no request", wantStatus: store.StatusQueued, wantRequestID: ptr("req-named"), wantCode: ptr("fal_unavailable"), wantError: ptr("HTTP 502")},
		{
			name: "queued, a webhook named another",
			before: func(t *testing.T, b *testBundle, id uuid.UUID) {
				require.NoError(t, store.NoteWebhook(b.ctx, b.pool, id, "req-webhook"))
			},
			wantStatus: store.StatusQueued, wantRequestID: ptr("req-webhook"), wantCode: ptr("fal_unavailable"), wantError: ptr("HTTP 502"),
		},
		{
			name: "cancelled",
			before: func(t *testing.T, b *testBundle, id uuid.UUID) {
				_, err := store.Cancel(b.ctx, b.pool, id, "cancelled by caller")
				require.NoError(t, err)
			},
			wantStatus: store.StatusCancelled, wantRequestID: ptr("req-named"), wantCode: ptr(store.ErrorCodeCancelled), wantError: ptr("cancelled by caller"),
		},
		{
			name: "completed by another request's result",
			before: func(t *testing.T, b *testBundle, id uuid.UUID) {
				b.completeByWebhook(t, id, "req-webhook")
			},
			wantStatus: store.StatusCompleted, wantRequestID: ptr("req-webhook"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			g := b.insert(t, "")
			_, err := store.MarkSubmitting(b.ctx, b.pool, g.ID)
			require.NoError(t, err)
			if tt.before != nil {
				tt.before(t, b, g.ID)
			}
			before, err := store.GetGeneration(b.ctx, b.pool, g.ID)
			require.NoError(t, err)

			got, err := store.RecordSubmitErrorNamingRequest(b.ctx, b.pool, g.ID, "fal_unavailable", "HTTP 502", "req-named")
			require.NoError(t, err)
			read, err := store.GetGeneration(b.ctx, b.pool, g.ID)
			require.NoError(t, err)
			require.Equal(t, read, got, "the generation as it now is")
			require.Equal(t, tt.wantStatus, got.Status)
			require.Equal(t, tt.wantRequestID, got.FalRequestID)
			require.Equal(t, tt.wantCode, got.ErrorCode)
			require.Equal(t, tt.wantError, got.ErrorMessage)
			require.Nil(t, got.SubmittedAt, "fal's acceptance is not known")
			require.Equal(t, before.FinishedAt, got.FinishedAt)
			submissions, confirmed := b.accounting(t, g.ID)
			require.Equal(t, [2]int{1, 0}, [2]int{submissions, confirmed}, "still counted")
		})
	}

	b := setup(t)
	_, err := store.RecordSubmitErrorNamingRequest(b.ctx, b.pool, uuid.New(), "fal_unavailable", "HTTP 502", "req-named")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorContains(t, err, "record submit error of generation")

	// The recorded request is adopted as a webhook-named one is.
	g := b.insert(t, "")
	_, err = store.MarkSubmitting(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	_, err = store.RecordSubmitErrorNamingRequest(b.ctx, b.pool, g.ID, "fal_unavailable", "HTTP 502", "req-named")
	require.NoError(t, err)
	adopted, err := store.AdoptSubmission(b.ctx, b.pool, g.ID, store.Submission{RequestID: "req-named", StatusURL: "s"})
	require.NoError(t, err)
	require.Equal(t, store.StatusSubmitted, adopted.Status)
	require.Nil(t, adopted.ErrorCode)
}

func ptr[T any](v T) *T { return &v }

// The answer to a submission recorded on a queued generation that records
// another request, unconfirmed (a webhook named it while the submit call
// was under way), replaces it but does not lose it: it is returned, and
// written down as a superseded request to cancel, pending while the
// generation is unfinished. The same request, or none, replaces nothing.
func TestRecordSubmittedReplacingKeepsTheNamedRequest(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name  string
		noted string // the request noted before the answer; "" for none

		wantReplaced string
		wantCancels  []cancel
	}{
		{name: "another request noted", noted: "req-A", wantReplaced: "req-A",
			wantCancels: []cancel{{requestID: "req-A", reason: store.FalCancelSuperseded}}},
		{name: "the same request noted", noted: "req-B"},
		{name: "none noted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			g := b.insert(t, "")
			for range 2 {
				_, err := store.MarkSubmitting(b.ctx, b.pool, g.ID)
				require.NoError(t, err)
			}
			if tt.noted != "" {
				require.NoError(t, store.NoteWebhook(b.ctx, b.pool, g.ID, tt.noted))
			}

			got, replaced, err := store.RecordSubmittedReplacing(b.ctx, b.pool, g.ID, store.Submission{RequestID: "req-B", CancelURL: "cancel-B"})
			require.NoError(t, err)
			require.Equal(t, tt.wantReplaced, replaced)
			require.Equal(t, store.StatusSubmitted, got.Status)
			require.Equal(t, "req-B", *got.FalRequestID)
			require.ElementsMatch(t, tt.wantCancels, b.cancels(t, g.ID))
			claimed, err := store.ClaimFalCancels(b.ctx, b.pool, 0, 10)
			require.NoError(t, err)
			require.Empty(t, claimed, "the generation is unfinished: its submit job settles the request first")

			again, replaced, err := store.RecordSubmittedReplacing(b.ctx, b.pool, g.ID, store.Submission{RequestID: "req-B", CancelURL: "cancel-B"})
			require.NoError(t, err)
			require.Empty(t, replaced, "confirmed already: nothing changes")
			require.Equal(t, got, again)
			submissions, confirmed := b.accounting(t, g.ID)
			require.Equal(t, [2]int{2, 1}, [2]int{submissions, confirmed})
		})
	}
}
