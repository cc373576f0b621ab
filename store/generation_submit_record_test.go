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
