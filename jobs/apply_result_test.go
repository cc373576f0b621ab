package jobs_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

// cancelledBody is what fal serves as the result of a request its owner
// cancelled, and what a webhook about it would carry as payload.
const cancelledBody = `{"detail": "Request cancelled by client", "error_type": "client_cancelled"}`

// A result saying fal's client cancelled the request is Easel's own cancel:
// DecideResult never fails a generation with it, but defers it to the
// reconciler, whose ApplyResult cancels it. Other errors, even of the same
// HTTP status, still fail it.
func TestDecideResultOfCancelledRequest(t *testing.T) {
	t.Parallel()
	errorPayload := func(body string) *fal.WebhookPayload {
		return &fal.WebhookPayload{RequestID: "r", Status: fal.WebhookStatusError, Error: "Invalid status code: 499", Payload: json.RawMessage(body)}
	}
	code := func(s string) *string { return &s }

	for _, tt := range []struct {
		name        string
		status      store.Status
		errorCode   *string
		payload     *fal.WebhookPayload
		wantOutcome store.WebhookOutcome
		wantFinish  *store.Finish
	}{
		{
			name: "client_cancelled, submitted", status: store.StatusSubmitted,
			payload: errorPayload(cancelledBody), wantOutcome: store.OutcomeDeferred,
		},
		{
			name: "client_cancelled, result unavailable noted", status: store.StatusSubmitted, errorCode: code(store.ErrorCodeResultUnavailable),
			payload: errorPayload(cancelledBody), wantOutcome: store.OutcomeDeferred,
		},
		{
			name: "client_cancelled, already cancelled", status: store.StatusCancelled, errorCode: code(store.ErrorCodeCancelled),
			payload: errorPayload(cancelledBody), wantOutcome: store.OutcomeLate,
		},
		{
			name: "client_cancelled, timed out", status: store.StatusFailed, errorCode: code(store.ErrorCodeTimeout),
			payload: errorPayload(cancelledBody), wantOutcome: store.OutcomeLate,
		},
		{
			name: "client_disconnected fails it", status: store.StatusSubmitted,
			payload:     errorPayload(`{"detail": "Client disconnected", "error_type": "client_disconnected"}`),
			wantOutcome: store.OutcomeApplied,
			wantFinish:  &store.Finish{ErrorCode: "client_disconnected", ErrorMessage: "Client disconnected"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			outcome, finish := jobs.DecideResult(tt.status, tt.errorCode, tt.payload)
			require.Equal(t, tt.wantOutcome, outcome)
			require.Equal(t, tt.wantFinish, finish)
		})
	}
}

// A result that comes for a generation that finished without any result of
// fal's is late, whatever ended it: cancelled, or failed by Easel with any
// of its codes a failed generation may have (store.ErrorCodes: a timeout, a
// result that could not be fetched, a submit error at the attempt limit, a
// lost job...). One that comes for a generation a result finished,
// completed or failed by fal's error, is a duplicate.
func TestDecideResultForFinishedGeneration(t *testing.T) {
	t.Parallel()
	ok := &fal.WebhookPayload{RequestID: "r", Status: fal.WebhookStatusOK, Payload: json.RawMessage(`{"images": []}`)}
	// DecideResult's own failures, written from a result.
	fromResult := []string{store.ErrorCodeInvalidOutput, store.ErrorCodeFalError}

	type finished struct {
		status store.Status
		code   string
	}
	want := map[finished]store.WebhookOutcome{
		{store.StatusCompleted, ""}:                        store.OutcomeDuplicate,
		{store.StatusFailed, "content_policy_violation"}:   store.OutcomeDuplicate, // fal's error type
		{store.StatusFailed, "some_validation_error_type"}: store.OutcomeDuplicate, // free-form, as fal's may be
		{store.StatusCancelled, store.ErrorCodeCancelled}:  store.OutcomeLate,
	}
	for _, c := range store.ErrorCodes() {
		require.Equal(t, !slices.Contains(fromResult, c.Code), c.WithoutResult, "%s is written without a result of fal's", c.Code)
		if !slices.Contains(c.Statuses, store.StatusFailed) {
			continue
		}
		want[finished{store.StatusFailed, c.Code}] = store.OutcomeLate
		if slices.Contains(fromResult, c.Code) {
			want[finished{store.StatusFailed, c.Code}] = store.OutcomeDuplicate
		}
	}
	require.Contains(t, want, finished{store.StatusFailed, store.ErrorCodeSubmitFailed}, "store's list is read")

	for f, wantOutcome := range want {
		t.Run(string(f.status)+" "+f.code, func(t *testing.T) {
			t.Parallel()
			var code *string
			if f.code != "" {
				code = &f.code
			}
			outcome, finish := jobs.DecideResult(f.status, code, ok)
			require.Equal(t, wantOutcome, outcome)
			require.Nil(t, finish, "a finished generation never changes")
		})
	}
}

// A webhook saying the request was cancelled by its client (fal's
// simulator sends none, but fal does not document that) is deferred, and
// the reconciler, fetching the result, ends the generation cancelled: never
// failed with client_cancelled.
func TestClientCancelledWebhookEndsCancelled(t *testing.T) {
	t.Parallel()
	b := setup(t, running)
	gen := b.enqueue(t, "tests")
	require.NoError(t, b.submit(t, gen.ID))
	gen = b.generation(t, gen.ID)
	// A cancel of Easel's whose answer was lost.
	outcome, err := b.fal.Cancel(b.ctx, *gen.FalCancelURL)
	require.NoError(t, err)
	require.Equal(t, fal.CancelRequested, outcome)

	body := `{"error": "Invalid status code: 499", "gateway_request_id": "` + *gen.FalRequestID + `", "payload": ` + cancelledBody +
		`, "request_id": "` + *gen.FalRequestID + `", "status": "ERROR"}`
	require.Equal(t, store.OutcomeDeferred, b.deliverSigned(t, gen.ID, *gen.FalRequestID, body))
	require.Equal(t, store.StatusSubmitted, b.generation(t, gen.ID).Status)

	b.reconcile(t) // polls at once: the webhook was deferred
	b.requireCancelledByResult(t, gen.ID)
	require.Equal(t, []store.WebhookOutcome{store.OutcomeDeferred}, b.outcomes(t, gen.ID))
}

// requireCancelledByResult checks that generation id ended cancelled from
// fal's result saying its request was cancelled, with nothing of a failure
// or a completion on it.
func (b *testBundle) requireCancelledByResult(t *testing.T, id uuid.UUID) {
	t.Helper()
	got := b.generation(t, id)
	require.Equal(t, store.StatusCancelled, got.Status)
	require.Equal(t, store.ErrorCodeCancelled, *got.ErrorCode)
	require.Contains(t, *got.ErrorMessage, "fal's result says the request was cancelled by its owner")
	require.NotNil(t, got.FinishedAt)
	require.Nil(t, got.CompletedAt)
	require.Nil(t, got.ImageCount)
	require.Nil(t, got.InferenceSeconds)
	require.Empty(t, got.Timings)
	require.Empty(t, b.images(t, id))
}
