package jobs_test

import (
	"context"
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

// cancelAnswers returns what was recorded of the answered cancels of
// generation id's requests, by request.
func (b *testBundle) cancelAnswers(t *testing.T, id uuid.UUID) map[string]store.FalCancelAnswer {
	t.Helper()
	answers := map[string]store.FalCancelAnswer{}
	rows, err := b.pool.Query(b.ctx, `SELECT fal_request_id, answer FROM fal_request_cancels WHERE generation_id = $1 AND answered_at IS NOT NULL`, id)
	require.NoError(t, err)
	var (
		requestID string
		answer    store.FalCancelAnswer
	)
	_, err = pgx.ForEachRow(rows, []any{&requestID, &answer}, func() error {
		answers[requestID] = answer
		return nil
	})
	require.NoError(t, err)
	return answers
}

// cancelRecord is what an auditor reading fal's invoice finds of a fal
// request in fal_request_cancels.
type cancelRecord struct {
	GenerationID uuid.UUID
	Reason       store.FalCancelReason
	Answer       *store.FalCancelAnswer
	Answered     bool
	LastError    *string
	Attempts     int
}

func (b *testBundle) cancelRecord(t *testing.T, requestID string) cancelRecord {
	t.Helper()
	var r cancelRecord
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT generation_id, reason, answer, answered_at IS NOT NULL, last_error, attempts
		FROM fal_request_cancels WHERE fal_request_id = $1`, requestID).
		Scan(&r.GenerationID, &r.Reason, &r.Answer, &r.Answered, &r.LastError, &r.Attempts), "request %s is in fal_request_cancels", requestID)
	return r
}

func ptr[T any](v T) *T { return &v }

// The cost auditor's case: a submission's answer is lost, the generation is
// submitted again and the second request recorded, both run to completion
// at fal (billed) and neither webhook comes; then the first one's webhook
// finishes the generation, which records the first request from then on.
// The reconciler's cancel of the second is answered ALREADY_COMPLETED, and
// the second request's id stays in the database with that answer, never
// sent again: it is named in no webhook event, nor on the generation.
func TestSupersededRequestFalRanIsKept(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{WebhookDropRate: 1}) // requests complete at once; no webhook
	first, second := b.submittedTwice(t)
	b.awaitCompletedAtFal(t, 2)
	got := b.completeWithOlder(t, second.ID, first)
	billed := *second.FalRequestID

	b.reconcile(t)
	require.Equal(t, cancelRecord{GenerationID: got.ID, Reason: store.FalCancelSuperseded, Answer: ptr(store.FalCancelAlreadyCompleted),
		Answered: true, Attempts: 1}, b.cancelRecord(t, billed))
	require.Empty(t, b.pendingCancels(t, got.ID))
	require.Equal(t, first, *b.generation(t, got.ID).FalRequestID)
	var events int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM webhook_events WHERE fal_request_id = $1`, billed).Scan(&events))
	require.Zero(t, events, "fal_request_cancels is the only place request %s is named", billed)

	b.reconcile(t) // PollAfter is 1ns since submittedTwice: a pending cancel would be sent again
	require.Equal(t, 1, b.cancelRecord(t, billed).Attempts, "answered: not claimed again")
}

// A superseded request's cancel that fal never answers is given up once it
// is EASEL_TIMEOUT old, and kept, answered gave_up with the last error: the
// request may have run and billed. It is not sent again.
func TestGivenUpCancelIsKept(t *testing.T) {
	t.Parallel()
	b, got, second := completedByOlderSubmission(t)
	_, err := b.pool.Exec(b.ctx, `UPDATE fal_request_cancels SET created_at = now() - interval '2 hours' WHERE generation_id = $1`, got.ID)
	require.NoError(t, err)
	b.cfg.Timeout = time.Hour
	b.cfg.Fal = failingCancels{Fal: b.fal, err: &fal.APIError{Op: "cancel", StatusCode: http.StatusServiceUnavailable}}

	b.reconcile(t)
	require.Equal(t, cancelRecord{GenerationID: got.ID, Reason: store.FalCancelSuperseded, Answer: ptr(store.FalCancelGaveUp),
		Answered: true, LastError: ptr("fal cancel: HTTP 503"), Attempts: 1}, b.cancelRecord(t, *second.FalRequestID))

	b.reconcile(t)
	require.Equal(t, 1, b.cancelRecord(t, *second.FalRequestID).Attempts, "given up: not claimed again")
	require.Equal(t, fal.StatusInProgress, b.falStatus(t, second).Status, "never cancelled at fal")
}

// A pending cancel fal does not answer stays pending, its error noted, and
// is sent again at a later run, as before answers were kept.
func TestUnansweredCancelIsSentAgain(t *testing.T) {
	t.Parallel()
	b, got, second := completedByOlderSubmission(t)
	failing := b.cfg.Fal
	b.cfg.Fal = failingCancels{Fal: b.fal, err: &fal.APIError{Op: "cancel", StatusCode: http.StatusServiceUnavailable}}

	b.reconcile(t)
	require.Equal(t, cancelRecord{GenerationID: got.ID, Reason: store.FalCancelSuperseded, LastError: ptr("fal cancel: HTTP 503"), Attempts: 1},
		b.cancelRecord(t, *second.FalRequestID))
	require.Equal(t, map[string]store.FalCancelReason{*second.FalRequestID: store.FalCancelSuperseded}, b.pendingCancels(t, got.ID))

	b.cfg.Fal = failing
	b.reconcile(t)
	require.Equal(t, cancelRecord{GenerationID: got.ID, Reason: store.FalCancelSuperseded, Answer: ptr(store.FalCancelRequested),
		Answered: true, LastError: ptr("fal cancel: HTTP 503"), Attempts: 2}, b.cancelRecord(t, *second.FalRequestID),
		"sent again, and answered")
	status := b.falStatus(t, second)
	require.Equal(t, [2]string{fal.StatusCompleted, "client_cancelled"}, [2]string{status.Status, status.ErrorType})
}

// unknownCancels is fal whose cancels are answered with outcome, one Easel
// does not know, all else answered.
type unknownCancels struct {
	jobs.Fal
	outcome fal.CancelOutcome
}

func (f unknownCancels) Cancel(context.Context, string) (fal.CancelOutcome, error) {
	return f.outcome, nil
}

// A cancel answered with an outcome Easel does not know is no answer: the
// timed out generation is failed all the same, saying so, and the cancel
// is left pending with the answer as its error, sent again at later runs
// and given up once it is EASEL_TIMEOUT old, as one fal did not answer.
// Recorded as an answer, store would refuse it at every run: the
// generation would never time out, nor the cancel ever end.
func TestUnknownCancelOutcomeIsNoAnswer(t *testing.T) {
	t.Parallel()
	const unknown = `fal answered the cancel with "CANCELLED", which Easel does not know`
	b := setup(t, running)
	b.cfg.Timeout = time.Hour
	gen := b.enqueue(t, "tests")
	require.NoError(t, b.submit(t, gen.ID))
	b.submittedAgo(t, gen.ID, 2*time.Hour)
	b.cfg.Fal = unknownCancels{Fal: b.fal, outcome: "CANCELLED"}

	b.reconcile(t)
	got := b.generation(t, gen.ID)
	require.Equal(t, store.StatusFailed, got.Status)
	require.Equal(t, "timeout", *got.ErrorCode)
	require.Equal(t, "fal did not finish within EASEL_TIMEOUT (1h0m0s) of the submission; cancelling it at fal failed: "+
		unknown+"; the reconciler sends the cancel again", *got.ErrorMessage)
	require.Equal(t, cancelRecord{GenerationID: gen.ID, Reason: store.FalCancelTimeout, LastError: ptr(unknown), Attempts: 1},
		b.cancelRecord(t, *got.FalRequestID))

	_, err := b.pool.Exec(b.ctx, `UPDATE fal_request_cancels SET created_at = now() - interval '2 hours' WHERE generation_id = $1`, gen.ID)
	require.NoError(t, err)
	b.cfg.PollAfter = time.Nanosecond
	b.reconcile(t)
	require.Equal(t, cancelRecord{GenerationID: gen.ID, Reason: store.FalCancelTimeout, Answer: ptr(store.FalCancelGaveUp),
		Answered: true, LastError: ptr(unknown), Attempts: 2}, b.cancelRecord(t, *got.FalRequestID), "sent again, then given up")
	b.reconcile(t)
	require.Equal(t, 2, b.cancelRecord(t, *got.FalRequestID).Attempts, "given up: not sent again")
}
