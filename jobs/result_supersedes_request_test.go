package jobs_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

// completedByOlderSubmission submits a generation twice, the first answer
// lost, the second recorded, and then delivers the first submission's
// result by webhook, as fal does once the receiver is back or its retries
// get through. It returns the generation as the webhook left it, and as it
// was before, recording the second submission's request.
func completedByOlderSubmission(t *testing.T) (b *testBundle, got *store.Generation, second *store.Generation) {
	t.Helper()
	b = setup(t, falsim.Config{WebhookDropRate: 1, Latency: falsim.Latency{Min: time.Hour, Max: time.Hour}})
	first, second := b.submittedTwice(t)
	got = b.completeWithOlder(t, second.ID, first)
	return b, got, second
}

// submittedTwice submits a generation twice, the first answer lost, the
// second recorded, on a simulator that sends no webhook. It returns the
// first submission's request and the generation recording the second's.
func (b *testBundle) submittedTwice(t *testing.T) (first string, second *store.Generation) {
	t.Helper()
	b.cfg.PollAfter = time.Nanosecond // the first submission's webhook is late: submit again
	gen := b.enqueue(t, "tests")

	ids := make(chan string, 1)
	lost := b.cfg
	lost.Fal = fal.NewClient(fal.ClientConfig{QueueURL: b.sim.QueueURL(), Key: "test-key",
		HTTPClient: &http.Client{Transport: lostAnswerNoting{ids}}})
	snoozed(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, lost), gen.ID))
	first = receive(t, ids)

	require.NoError(t, b.submit(t, gen.ID))
	second = b.generation(t, gen.ID)
	require.Equal(t, store.StatusSubmitted, second.Status)
	require.NotEqual(t, first, *second.FalRequestID)
	return first, second
}

// completeWithOlder delivers the result of request first, an older
// submission's, to generation id by webhook, and returns the generation
// it completed.
func (b *testBundle) completeWithOlder(t *testing.T, id uuid.UUID, first string) *store.Generation {
	t.Helper()
	require.Equal(t, store.OutcomeApplied, b.deliverSigned(t, id, first, okWebhook(first)))
	got := b.generation(t, id)
	require.Equal(t, store.StatusCompleted, got.Status)
	require.Equal(t, first, *got.FalRequestID, "completed with the first submission's result")
	return got
}

// pendingCancels returns the reasons of the cancels of generation id's
// requests that fal has not answered, by request.
func (b *testBundle) pendingCancels(t *testing.T, id uuid.UUID) map[string]store.FalCancelReason {
	t.Helper()
	pending := map[string]store.FalCancelReason{}
	rows, err := b.pool.Query(b.ctx, `SELECT fal_request_id, reason FROM fal_request_cancels WHERE generation_id = $1 AND answered_at IS NULL`, id)
	require.NoError(t, err)
	var (
		requestID string
		reason    store.FalCancelReason
	)
	_, err = pgx.ForEachRow(rows, []any{&requestID, &reason}, func() error {
		pending[requestID] = reason
		return nil
	})
	require.NoError(t, err)
	return pending
}

// When the result of an earlier submission, whose answer was lost, comes
// after the answer to a later one was recorded, it completes the
// generation, and the later request, which nobody needs any more, is
// cancelled at fal by the reconciler's next run rather than running to
// completion and billing (docs/RELIABILITY.md, "Results").
func TestOlderSubmissionResultCancelsRecordedRequest(t *testing.T) {
	t.Parallel()
	b, got, second := completedByOlderSubmission(t)
	require.Equal(t, map[string]store.FalCancelReason{*second.FalRequestID: store.FalCancelSuperseded}, b.pendingCancels(t, got.ID),
		"queued in the transaction that completed the generation")
	require.Equal(t, fal.StatusInProgress, b.falStatus(t, second).Status)

	b.reconcile(t)
	status := b.falStatus(t, second)
	require.Equal(t, [2]string{fal.StatusCompleted, "client_cancelled"}, [2]string{status.Status, status.ErrorType},
		"the generation completed with another request, so request %s is cancelled at fal", *second.FalRequestID)
	require.Empty(t, b.pendingCancels(t, got.ID), "fal answered the cancel")
	require.Equal(t, map[string]store.FalCancelAnswer{*second.FalRequestID: store.FalCancelRequested}, b.cancelAnswers(t, got.ID),
		"kept with fal's answer")
	require.Equal(t, store.StatusCompleted, b.generation(t, got.ID).Status)
}

// The row names the request whose result completed it, and points at no
// other: the gateway id and URLs of the request it recorded before are
// cleared with it (fal's URLs are derived from the request id where they
// are missing).
func TestOlderSubmissionResultKeepsRowConsistent(t *testing.T) {
	t.Parallel()
	_, got, second := completedByOlderSubmission(t)
	require.NotEqual(t, *second.FalRequestID, *got.FalRequestID)
	require.Nil(t, got.FalGatewayRequestID)
	require.Equal(t, [3]*string{nil, nil, nil}, [3]*string{got.FalStatusURL, got.FalResponseURL, got.FalCancelURL},
		"fal_request_id is %s: no URL of request %s is left", *got.FalRequestID, *second.FalRequestID)
}

// ApplyResult, for the reconciler and the cancel call, does as the webhook
// receiver does when the generation records another request than the one
// whose result it applies (recorded after the generation was read): that
// request is queued to be cancelled, and the row names the result's.
func TestApplyResultOfAnotherRequestQueuesRecordedOnesCancel(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name    string
		payload func(requestID string) *fal.WebhookPayload
		want    store.Status
	}{
		{name: "completed", payload: func(requestID string) *fal.WebhookPayload {
			payload, err := fal.ParseWebhook([]byte(okWebhook(requestID)))
			require.NoError(t, err)
			return payload
		}, want: store.StatusCompleted},
		{name: "cancelled", payload: func(requestID string) *fal.WebhookPayload {
			return &fal.WebhookPayload{RequestID: requestID, Status: fal.WebhookStatusError, Payload: []byte(cancelledBody)}
		}, want: store.StatusCancelled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, running)
			gen := b.enqueue(t, "tests")
			require.NoError(t, b.submit(t, gen.ID))
			read := b.generation(t, gen.ID)
			older := *read.FalRequestID
			// A later submission's answer recorded after the generation was
			// read: what the row records when the result is applied.
			second, err := b.fal.Submit(b.ctx, fal.SubmitRequest{EndpointID: read.EndpointID, Input: read.Input})
			require.NoError(t, err)
			_, err = b.pool.Exec(b.ctx, `UPDATE generations SET fal_request_id = $2, fal_cancel_url = $3,
				fal_submissions = 2 WHERE id = $1`, gen.ID, second.RequestID, second.CancelURL)
			require.NoError(t, err)

			var outcome store.WebhookOutcome
			require.NoError(t, pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
				if _, err := store.LockGeneration(b.ctx, tx, gen.ID); err != nil {
					return err
				}
				outcome, err = jobs.ApplyResult(b.ctx, tx, read, tt.payload(older))
				return err
			}))
			require.Equal(t, store.OutcomeApplied, outcome)
			got := b.generation(t, gen.ID)
			require.Equal(t, tt.want, got.Status)
			require.Equal(t, older, *got.FalRequestID)
			require.Nil(t, got.FalCancelURL)
			require.Equal(t, map[string]store.FalCancelReason{second.RequestID: store.FalCancelSuperseded}, b.pendingCancels(t, gen.ID))

			b.reconcile(t)
			status, err := b.fal.Status(b.ctx, second.StatusURL)
			require.NoError(t, err)
			require.Equal(t, "client_cancelled", status.ErrorType)
			require.Empty(t, b.pendingCancels(t, gen.ID))
		})
	}
}
