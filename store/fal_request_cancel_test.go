package store_test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/store"
)

// withRequest returns a submitted generation that records request "req-2"
// with fal's ids and URLs, its earlier submission "req-1" unconfirmed: the
// state in which req-1's result can come for it.
func (b *testBundle) withRequest(t *testing.T) *store.Generation {
	t.Helper()
	g := b.insert(t, "")
	for range 2 {
		_, err := store.MarkSubmitting(b.ctx, b.pool, g.ID)
		require.NoError(t, err)
	}
	_, err := store.RecordSubmitted(b.ctx, b.pool, g.ID, store.Submission{
		RequestID: "req-2", GatewayRequestID: "gw-2",
		StatusURL: "https://queue.fal.run/fal-ai/fooocus/requests/req-2/status", ResponseURL: "https://queue.fal.run/fal-ai/fooocus/requests/req-2",
		CancelURL: "https://queue.fal.run/fal-ai/fooocus/requests/req-2/cancel",
	})
	require.NoError(t, err)
	return g
}

// cancel is a row of fal_request_cancels.
type cancel struct {
	requestID, cancelURL, lastError string
	reason                          store.FalCancelReason
	attempts                        int
	attempted                       bool
	// answer is "" while pending; answered says answered_at is set, and
	// parked that attempted_at is infinity, where no claim of a binary
	// before schema version 25 reaches it.
	answer           store.FalCancelAnswer
	answered, parked bool
}

func (b *testBundle) cancels(t *testing.T, id uuid.UUID) []cancel {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, `
		SELECT fal_request_id, coalesce(cancel_url, ''), reason, coalesce(last_error, ''), attempts, attempted_at IS NOT NULL,
			coalesce(answer, ''), answered_at IS NOT NULL, attempted_at = 'infinity' IS TRUE
		FROM fal_request_cancels WHERE generation_id = $1 ORDER BY fal_request_id`, id)
	require.NoError(t, err)
	cancels, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (cancel, error) {
		var c cancel
		err := row.Scan(&c.requestID, &c.cancelURL, &c.reason, &c.lastError, &c.attempts, &c.attempted,
			&c.answer, &c.answered, &c.parked)
		return c, err
	})
	require.NoError(t, err)
	return cancels
}

// answeredCancel is c as recording answer, with lastError, leaves it.
func answeredCancel(c cancel, answer store.FalCancelAnswer, lastError string) cancel {
	c.answer, c.answered, c.parked, c.attempted = answer, true, true, true
	if lastError != "" {
		c.lastError = lastError
	}
	return c
}

// requireRecords checks that generation g records request requestID and,
// when urls, the URLs withRequest gave req-2, else none.
func (b *testBundle) requireRecords(t *testing.T, g *store.Generation, requestID string, urls bool) *store.Generation {
	t.Helper()
	got, err := store.GetGeneration(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	require.Equal(t, requestID, *got.FalRequestID)
	if !urls {
		require.Nil(t, got.FalGatewayRequestID)
		require.Equal(t, [3]*string{nil, nil, nil}, [3]*string{got.FalStatusURL, got.FalResponseURL, got.FalCancelURL})
		return got
	}
	require.Equal(t, "gw-2", *got.FalGatewayRequestID)
	require.Equal(t, "https://queue.fal.run/fal-ai/fooocus/requests/req-2/cancel", *got.FalCancelURL)
	return got
}

// A delivery whose result finishes a generation that records another
// request (the result of an earlier submission, whose answer was lost)
// makes its own request the generation's, clears the other's ids and URLs,
// and queues the other's cancel, in the transaction that finishes it.
func TestWebhookTxRecordSupersedesRecordedRequest(t *testing.T) {
	t.Parallel()

	failure := func(requestID string) store.WebhookWrite {
		w := completionWrite(requestID)
		w.Finish = &store.Finish{ErrorCode: "content_policy_violation", ErrorMessage: "no"}
		return w
	}
	for _, tt := range []struct {
		name       string
		write      func(requestID string) store.WebhookWrite
		requestID  string
		wantStatus store.Status
	}{
		{name: "completed by an earlier submission", write: completionWrite, requestID: "req-1", wantStatus: store.StatusCompleted},
		{name: "failed by an earlier submission", write: failure, requestID: "req-1", wantStatus: store.StatusFailed},
		{name: "completed by its own request", write: completionWrite, requestID: "req-2", wantStatus: store.StatusCompleted},
		{name: "failed by its own request", write: failure, requestID: "req-2", wantStatus: store.StatusFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			g := b.withRequest(t)

			tx, target, err := store.LockWebhookTarget(b.ctx, b.pool, g.ID, tt.requestID)
			require.NoError(t, err)
			require.True(t, target.RequestMatches)
			finished, err := tx.Record(b.ctx, tt.write(tt.requestID))
			tx.Close(b.ctx)
			require.NoError(t, err)
			require.NotNil(t, finished)

			got := b.requireRecords(t, g, tt.requestID, tt.requestID == "req-2")
			require.Equal(t, tt.wantStatus, got.Status)
			if tt.requestID == "req-2" {
				require.Empty(t, finished.SupersededRequestID)
				require.Empty(t, b.cancels(t, g.ID))
				return
			}
			require.Equal(t, "req-2", finished.SupersededRequestID)
			require.Equal(t, []cancel{{requestID: "req-2", cancelURL: "https://queue.fal.run/fal-ai/fooocus/requests/req-2/cancel",
				reason: store.FalCancelSuperseded}}, b.cancels(t, g.ID))
		})
	}
}

// TakeResultRequest does for the reconciler and the cancel call what a
// finishing delivery does; for the generation's own request, or one that
// records none, it changes nothing.
func TestTakeResultRequest(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name           string
		requestID      string
		wantSuperseded string
	}{
		{name: "another request", requestID: "req-1", wantSuperseded: "req-2"},
		{name: "its own request", requestID: "req-2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			g := b.withRequest(t)

			var superseded string
			require.NoError(t, pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
				if _, err := store.LockGeneration(b.ctx, tx, g.ID); err != nil {
					return err
				}
				var err error
				superseded, err = store.TakeResultRequest(b.ctx, tx, g.ID, tt.requestID)
				return err
			}))
			require.Equal(t, tt.wantSuperseded, superseded)
			got := b.requireRecords(t, g, tt.requestID, tt.wantSuperseded == "")
			require.Equal(t, store.StatusSubmitted, got.Status, "the caller finishes it")
			if tt.wantSuperseded == "" {
				require.Empty(t, b.cancels(t, g.ID))
				return
			}
			require.Equal(t, []cancel{{requestID: "req-2", cancelURL: "https://queue.fal.run/fal-ai/fooocus/requests/req-2/cancel",
				reason: store.FalCancelSuperseded}}, b.cancels(t, g.ID))
		})
	}
}

// The request whose result finishes the generation needs no cancel, and
// the generation records it: a pending cancel the timeout wrote down for
// it is forgotten with the finish. One fal answered is kept, as every
// answered cancel is.
func TestResultForgetsItsRequestsCancel(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		answered bool
	}{
		{name: "pending: forgotten"},
		{name: "answered: kept", answered: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			g := b.withRequest(t)
			_, err := store.PrepareTimeout(b.ctx, b.pool, g.ID)
			require.NoError(t, err)
			require.Len(t, b.cancels(t, g.ID), 1)
			if tt.answered {
				require.NoError(t, store.FalCancelAnswered(b.ctx, b.pool, g.ID, "req-2", "", store.FalCancelTimeout, store.FalCancelRequested, ""))
			}
			before := b.cancels(t, g.ID)

			tx, _, err := store.LockWebhookTarget(b.ctx, b.pool, g.ID, "req-2")
			require.NoError(t, err)
			_, err = tx.Record(b.ctx, completionWrite("req-2"))
			tx.Close(b.ctx)
			require.NoError(t, err)
			if !tt.answered {
				require.Empty(t, b.cancels(t, g.ID))
				return
			}
			require.Equal(t, before, b.cancels(t, g.ID))
		})
	}
}

// PrepareTimeout reads the generation as it now is and writes down the
// cancel of the request it records before the reconciler sends it.
func TestPrepareTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t)

	g := b.withRequest(t)
	got, err := store.PrepareTimeout(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	require.Equal(t, "req-2", *got.FalRequestID)
	require.Equal(t, "https://queue.fal.run/fal-ai/fooocus/requests/req-2/cancel", *got.FalCancelURL)
	want := cancel{requestID: "req-2", cancelURL: *got.FalCancelURL, reason: store.FalCancelTimeout, attempts: 1, attempted: true}
	require.Equal(t, []cancel{want}, b.cancels(t, g.ID))
	requested, err := store.TimeoutCancelRequested(b.ctx, b.pool, g.ID, "req-2")
	require.NoError(t, err)
	require.True(t, requested)
	requested, err = store.TimeoutCancelRequested(b.ctx, b.pool, g.ID, "req-1")
	require.NoError(t, err)
	require.False(t, requested, "only the request the timeout cancelled")

	_, err = store.PrepareTimeout(b.ctx, b.pool, g.ID) // the next run, should this one end first
	require.NoError(t, err)
	want.attempts = 2
	require.Equal(t, []cancel{want}, b.cancels(t, g.ID))

	unanswered := b.insert(t, "")
	_, err = store.MarkSubmitting(b.ctx, b.pool, unanswered.ID)
	require.NoError(t, err)
	got, err = store.PrepareTimeout(b.ctx, b.pool, unanswered.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusQueued, got.Status)
	require.Nil(t, got.FalRequestID)
	require.Empty(t, b.cancels(t, unanswered.ID), "no request to cancel")

	// The same request timed out again after fal answered its cancel (the
	// generation was given another request meanwhile, and then this one
	// again): fal's answer stands.
	require.NoError(t, store.FalCancelAnswered(b.ctx, b.pool, g.ID, "req-2", "", store.FalCancelTimeout, store.FalCancelNotFound, ""))
	answered := b.cancels(t, g.ID)
	_, err = store.PrepareTimeout(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	require.Equal(t, answered, b.cancels(t, g.ID))
	require.Equal(t, []cancel{answeredCancel(want, store.FalCancelNotFound, "")}, answered)

	done := b.withRequest(t)
	_, err = store.Fail(b.ctx, b.pool, done.ID, "timeout", "too late")
	require.NoError(t, err)
	got, err = store.PrepareTimeout(b.ctx, b.pool, done.ID)
	require.NoError(t, err)
	require.Nil(t, got, "finished: nothing to time out")
	require.Empty(t, b.cancels(t, done.ID))
}

// FailTimedOut fails the generation only if it still records the request
// the reconciler cancelled, and, either way, records fal's answer on the
// cancel's row, keeping it, or notes why the cancel failed, for it to be
// sent again.
func TestFailTimedOut(t *testing.T) {
	t.Parallel()
	req2 := "req-2"
	const cancelURL = "https://queue.fal.run/fal-ai/fooocus/requests/req-2/cancel"
	prepared := cancel{requestID: "req-2", cancelURL: cancelURL, reason: store.FalCancelTimeout, attempts: 1, attempted: true}

	for _, tt := range []struct {
		name string
		// prepare changes the generation after PrepareTimeout read it.
		prepare      func(t *testing.T, b *testBundle, id uuid.UUID)
		requestID    *string
		cancelAnswer store.FalCancelAnswer
		cancelErr    string
		wantChanged  bool
		wantCancels  []cancel
	}{
		{
			name: "cancel answered", requestID: &req2, cancelAnswer: store.FalCancelRequested, wantChanged: true,
			wantCancels: []cancel{answeredCancel(prepared, store.FalCancelRequested, "")},
		},
		{
			name: "cancel refused", requestID: &req2, cancelAnswer: store.FalCancelRefused, cancelErr: "fal cancel: HTTP 403", wantChanged: true,
			wantCancels: []cancel{answeredCancel(prepared, store.FalCancelRefused, "fal cancel: HTTP 403")},
		},
		{
			name: "cancel failed", requestID: &req2, cancelErr: "fal cancel: HTTP 503", wantChanged: true,
			wantCancels: []cancel{{requestID: "req-2", cancelURL: cancelURL,
				reason: store.FalCancelTimeout, lastError: "fal cancel: HTTP 503", attempts: 1, attempted: true}},
		},
		{
			name: "another request recorded since",
			prepare: func(t *testing.T, b *testBundle, id uuid.UUID) {
				_, err := b.pool.Exec(b.ctx, `UPDATE generations SET fal_request_id = 'req-3' WHERE id = $1`, id)
				require.NoError(t, err)
			},
			requestID: &req2, cancelAnswer: store.FalCancelRequested,
			wantCancels: []cancel{answeredCancel(prepared, store.FalCancelRequested, "")},
		},
		{name: "read with no request, one recorded since", requestID: nil, wantCancels: []cancel{prepared}},
		{
			name: "finished since",
			prepare: func(t *testing.T, b *testBundle, id uuid.UUID) {
				require.True(t, b.complete(t, id, store.Completion{FalRequestID: "req-2"}))
			},
			requestID: &req2, cancelAnswer: store.FalCancelNotFound,
			wantCancels: []cancel{answeredCancel(prepared, store.FalCancelNotFound, "")},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			g := b.withRequest(t)
			_, err := store.PrepareTimeout(b.ctx, b.pool, g.ID)
			require.NoError(t, err)
			if tt.prepare != nil {
				tt.prepare(t, b, g.ID)
			}
			before, err := store.GetGeneration(b.ctx, b.pool, g.ID)
			require.NoError(t, err)

			changed, err := store.FailTimedOut(b.ctx, b.pool, g.ID, tt.requestID, "timeout", "fal did not finish", tt.cancelAnswer, tt.cancelErr, store.FalStatus{})
			require.NoError(t, err)
			require.Equal(t, tt.wantChanged, changed)
			require.Equal(t, tt.wantCancels, b.cancels(t, g.ID))
			got, err := store.GetGeneration(b.ctx, b.pool, g.ID)
			require.NoError(t, err)
			if !tt.wantChanged {
				require.Equal(t, before.Status, got.Status, "unchanged")
				require.Equal(t, before.ErrorMessage, got.ErrorMessage)
				return
			}
			require.Equal(t, store.StatusFailed, got.Status)
			require.Equal(t, "timeout", *got.ErrorCode)
			require.Equal(t, "fal did not finish", *got.ErrorMessage)
		})
	}
}

// An answer FailTimedOut may not record is refused, naming it, and
// neither the generation nor the cancel changes: store's own answers by
// FailTimedOut, one converted from elsewhere by the table's CHECK.
func TestFailTimedOutRefusesUnknownAnswer(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		answer  store.FalCancelAnswer
		wantErr string
	}{
		{answer: store.FalCancelGaveUp, wantErr: `cancel answer "gave_up": want one of`},
		{answer: store.FalCancelPending, wantErr: `cancel answer "pending": want one of`},
		{answer: "CANCELLED", wantErr: `fal_request_cancels_answer`},
	} {
		t.Run(string(tt.answer), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			g := b.withRequest(t)
			_, err := store.PrepareTimeout(b.ctx, b.pool, g.ID)
			require.NoError(t, err)
			before, cancelsBefore := b.requireRecords(t, g, "req-2", true), b.cancels(t, g.ID)

			req2 := "req-2"
			changed, err := store.FailTimedOut(b.ctx, b.pool, g.ID, &req2, "timeout", "fal did not finish", tt.answer, "", store.FalStatus{})
			require.ErrorContains(t, err, fmt.Sprintf(`fail timed out generation %s: `, g.ID))
			require.ErrorContains(t, err, tt.wantErr)
			require.False(t, changed)
			require.Equal(t, before, b.requireRecords(t, g, "req-2", true))
			require.Equal(t, cancelsBefore, b.cancels(t, g.ID))
		})
	}
}

// The reconciler is handed the cancels of finished generations, not yet
// answered, once per retryAfter, the oldest attempt first.
func TestClaimFalCancels(t *testing.T) {
	t.Parallel()
	b := setup(t)

	superseded := b.withRequest(t)
	tx, _, err := store.LockWebhookTarget(b.ctx, b.pool, superseded.ID, "req-1")
	require.NoError(t, err)
	_, err = tx.Record(b.ctx, completionWrite("req-1"))
	tx.Close(b.ctx)
	require.NoError(t, err)

	inFlight := b.withRequest(t) // the timeout sends this one itself
	_, err = store.PrepareTimeout(b.ctx, b.pool, inFlight.ID)
	require.NoError(t, err)

	failedCancel := b.withRequest(t)
	_, err = store.PrepareTimeout(b.ctx, b.pool, failedCancel.ID)
	require.NoError(t, err)
	req2 := "req-2"
	changed, err := store.FailTimedOut(b.ctx, b.pool, failedCancel.ID, &req2, "timeout", "x", "", "fal cancel: HTTP 503", store.FalStatus{})
	require.NoError(t, err)
	require.True(t, changed)

	claimed, err := store.ClaimFalCancels(b.ctx, b.pool, time.Hour, 10)
	require.NoError(t, err)
	require.Len(t, claimed, 1, "the timeout's failed cancel was just sent: not again within retryAfter")
	require.Equal(t, store.FalCancel{
		GenerationID: superseded.ID, RequestID: "req-2", EndpointID: "fal-ai/fooocus/image-prompt",
		CancelURL: "https://queue.fal.run/fal-ai/fooocus/requests/req-2/cancel", Reason: store.FalCancelSuperseded,
		Attempts: 1, CreatedAt: claimed[0].CreatedAt,
	}, *claimed[0])
	claimed, err = store.ClaimFalCancels(b.ctx, b.pool, time.Hour, 10)
	require.NoError(t, err)
	require.Empty(t, claimed, "claimed: not again within retryAfter")

	claimed, err = store.ClaimFalCancels(b.ctx, b.pool, 0, 10)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{superseded.ID.String(), failedCancel.ID.String()},
		[]string{claimed[0].GenerationID.String(), claimed[1].GenerationID.String()},
		"never those of unfinished generations")
	claimed, err = store.ClaimFalCancels(b.ctx, b.pool, 0, 1)
	require.NoError(t, err)
	require.Len(t, claimed, 1, "batches are bounded")

	// Answered and given up cancels are kept, and never claimed again.
	require.NoError(t, store.FalCancelAnswered(b.ctx, b.pool, superseded.ID, "req-2", "", store.FalCancelSuperseded, store.FalCancelAlreadyCompleted, ""))
	require.Len(t, b.cancels(t, superseded.ID), 1)
	gaveUp, err := store.RecordFalCancelError(b.ctx, b.pool, failedCancel.ID, "req-2", "fal cancel: HTTP 503", 0)
	require.NoError(t, err)
	require.True(t, gaveUp)
	claimed, err = store.ClaimFalCancels(b.ctx, b.pool, 0, 10)
	require.NoError(t, err)
	require.Empty(t, claimed, "nothing pending")
}

// A superseded request's cancel that fal answers ALREADY_COMPLETED (the
// auditor's case: fal ran and billed it, its webhook never stored) keeps
// the request's id in the database, with fal's answer, once the
// generation records the request whose result finished it; the cancel is
// not claimed again.
func TestAnsweredSupersededCancelKeepsRequest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.withRequest(t) // req-1's answer lost, req-2 recorded
	tx, _, err := store.LockWebhookTarget(b.ctx, b.pool, g.ID, "req-1")
	require.NoError(t, err)
	_, err = tx.Record(b.ctx, completionWrite("req-1"))
	tx.Close(b.ctx)
	require.NoError(t, err)
	b.requireRecords(t, g, "req-1", false)

	claimed, err := store.ClaimFalCancels(b.ctx, b.pool, 0, 10)
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.Equal(t, "req-2", claimed[0].RequestID)
	require.NoError(t, store.FalCancelAnswered(b.ctx, b.pool, g.ID, "req-2", "", store.FalCancelSuperseded, store.FalCancelAlreadyCompleted, ""))

	var (
		generationID uuid.UUID
		answer       store.FalCancelAnswer
		answeredAt   time.Time
	)
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT generation_id, answer, answered_at FROM fal_request_cancels WHERE fal_request_id = 'req-2'`).
		Scan(&generationID, &answer, &answeredAt), "the invoice's request id is found")
	require.Equal(t, g.ID, generationID)
	require.Equal(t, store.FalCancelAlreadyCompleted, answer)
	require.WithinDuration(t, time.Now(), answeredAt, time.Minute)
	require.Equal(t, []cancel{answeredCancel(cancel{requestID: "req-2", cancelURL: "https://queue.fal.run/fal-ai/fooocus/requests/req-2/cancel",
		reason: store.FalCancelSuperseded, attempts: 1}, store.FalCancelAlreadyCompleted, "")}, b.cancels(t, g.ID))

	claimed, err = store.ClaimFalCancels(b.ctx, b.pool, 0, 10)
	require.NoError(t, err)
	require.Empty(t, claimed, "answered: not claimed again")
}

// FalCancelAnswered records each of fal's answers, or a refusal with its
// error, on the cancel's row, which it keeps and no claim returns again;
// the first answer stands. store's own answers, which are none of a
// caller's, are refused naming them, and an answer or reason converted
// from elsewhere by the table's CHECKs; the row is left pending.
func TestFalCancelAnswered(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		answer    store.FalCancelAnswer
		lastError string
		reason    store.FalCancelReason // superseded unless set
		wantErr   string
	}{
		{name: "cancelled", answer: store.FalCancelRequested},
		{name: "already completed", answer: store.FalCancelAlreadyCompleted},
		{name: "not found", answer: store.FalCancelNotFound},
		{name: "refused", answer: store.FalCancelRefused, lastError: "fal cancel: HTTP 403"},
		{name: "given up is not an answer", answer: store.FalCancelGaveUp,
			wantErr: `answer "gave_up": want one of CANCELLATION_REQUESTED, ALREADY_COMPLETED, NOT_FOUND (fal's answers) or refused`},
		{name: "pending is not an answer", answer: store.FalCancelPending, wantErr: `answer "pending": want one of`},
		{name: "unknown", answer: "CANCELLED", wantErr: `fal_request_cancels_answer`},
		{name: "empty", answer: "", wantErr: `fal_request_cancels_answer`},
		{name: "unknown reason", answer: store.FalCancelRequested, reason: "expired", wantErr: `fal_request_cancels_reason`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			g := b.withRequest(t)
			require.NoError(t, store.QueueFalCancel(b.ctx, b.pool, g.ID, "req-1", "", store.FalCancelSuperseded))
			pending := b.cancels(t, g.ID)

			err := store.FalCancelAnswered(b.ctx, b.pool, g.ID, "req-1", "", cmp.Or(tt.reason, store.FalCancelSuperseded), tt.answer, tt.lastError)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, fmt.Sprintf("cancel of fal request req-1 of generation %s: ", g.ID))
				require.ErrorContains(t, err, tt.wantErr)
				require.Equal(t, pending, b.cancels(t, g.ID), "nothing written")
				return
			}
			require.NoError(t, err)
			answered := []cancel{answeredCancel(pending[0], tt.answer, tt.lastError)}
			require.Equal(t, answered, b.cancels(t, g.ID))

			require.NoError(t, store.FalCancelAnswered(b.ctx, b.pool, g.ID, "req-1", "", store.FalCancelSuperseded, store.FalCancelNotFound, ""))
			gaveUp, err := store.RecordFalCancelError(b.ctx, b.pool, g.ID, "req-1", "fal cancel: HTTP 503", 0)
			require.NoError(t, err)
			require.False(t, gaveUp)
			require.Equal(t, answered, b.cancels(t, g.ID), "the first answer stands")
		})
	}
}

// An answer to a cancel that was never written down (QueueFalCancel failed
// just before the cancel was sent) writes the cancel's row, answered, with
// its URL and reason: the request, which fal may have run and billed, is
// otherwise named nowhere once the generation records another. The first
// answer stands; an answer or reason it does not know writes nothing; a
// generation gone is nothing to record.
func TestFalCancelAnsweredWritesCancelNeverQueued(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, cancelURL, lastError string
		reason                     store.FalCancelReason
		answer                     store.FalCancelAnswer
	}{
		{name: "superseded, ran at fal", cancelURL: "https://queue.fal.run/fal-ai/fooocus/requests/req-1/cancel",
			reason: store.FalCancelSuperseded, answer: store.FalCancelAlreadyCompleted},
		{name: "timeout, refused, no URL recorded", reason: store.FalCancelTimeout, answer: store.FalCancelRefused,
			lastError: "fal cancel: HTTP 403"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			g := b.withRequest(t)
			require.Empty(t, b.cancels(t, g.ID))

			require.NoError(t, store.FalCancelAnswered(b.ctx, b.pool, g.ID, "req-1", tt.cancelURL, tt.reason, tt.answer, tt.lastError))
			want := []cancel{{requestID: "req-1", cancelURL: tt.cancelURL, reason: tt.reason, lastError: tt.lastError, attempts: 1,
				attempted: true, answer: tt.answer, answered: true, parked: true}}
			require.Equal(t, want, b.cancels(t, g.ID))

			require.NoError(t, store.FalCancelAnswered(b.ctx, b.pool, g.ID, "req-1", "", store.FalCancelSuperseded, store.FalCancelNotFound, ""))
			require.Equal(t, want, b.cancels(t, g.ID), "the first answer stands")
		})
	}

	b := setup(t)
	g := b.withRequest(t)
	require.ErrorContains(t, store.FalCancelAnswered(b.ctx, b.pool, g.ID, "req-1", "", store.FalCancelSuperseded, "CANCELLED", ""),
		`fal_request_cancels_answer`)
	require.ErrorContains(t, store.FalCancelAnswered(b.ctx, b.pool, g.ID, "req-1", "", "", store.FalCancelRequested, ""),
		`fal_request_cancels_reason`)
	require.Empty(t, b.cancels(t, g.ID), "nothing written")

	gone := uuid.Must(uuid.NewV7())
	require.NoError(t, store.FalCancelAnswered(b.ctx, b.pool, gone, "req-1", "", store.FalCancelSuperseded, store.FalCancelRequested, ""))
	require.Empty(t, b.cancels(t, gone), "no generation, nothing to record")
}

// store's answers are fal's, as fal spells them: the values fal's client
// returns are recorded as they are.
func TestFalCancelAnswersAreFals(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{string(fal.CancelRequested), string(fal.CancelAlreadyCompleted), string(fal.CancelNotFound)},
		[]string{string(store.FalCancelRequested), string(store.FalCancelAlreadyCompleted), string(store.FalCancelNotFound)})
}

// A cancel fal does not answer is noted and sent again, until it is
// giveUpAfter old: then it is given up, and kept, answered gave_up with
// the last error, never claimed again.
func TestRecordFalCancelError(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name       string
		age        time.Duration
		wantGaveUp bool
	}{
		{name: "young: noted", age: time.Minute},
		{name: "old: given up", age: 2 * time.Hour, wantGaveUp: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			g := b.withRequest(t)
			_, err := store.PrepareTimeout(b.ctx, b.pool, g.ID)
			require.NoError(t, err)
			_, err = b.pool.Exec(b.ctx, `UPDATE fal_request_cancels SET created_at = now() - $2::interval WHERE generation_id = $1`,
				g.ID, tt.age)
			require.NoError(t, err)
			_, err = store.Fail(b.ctx, b.pool, g.ID, "timeout", "fal did not finish")
			require.NoError(t, err)
			pending := b.cancels(t, g.ID)

			gaveUp, err := store.RecordFalCancelError(b.ctx, b.pool, g.ID, "req-2", "fal cancel: HTTP 503", time.Hour)
			require.NoError(t, err)
			require.Equal(t, tt.wantGaveUp, gaveUp)
			want := pending[0]
			want.lastError = "fal cancel: HTTP 503"
			if tt.wantGaveUp {
				want = answeredCancel(pending[0], store.FalCancelGaveUp, "fal cancel: HTTP 503")
			}
			require.Equal(t, []cancel{want}, b.cancels(t, g.ID))
			claimed, err := store.ClaimFalCancels(b.ctx, b.pool, 0, 10)
			require.NoError(t, err)
			if tt.wantGaveUp {
				require.Empty(t, claimed, "given up: not sent again")
				return
			}
			require.Len(t, claimed, 1, "sent again")
		})
	}
}

// The claim reads the pending cancels through their index, not the table
// of every cancel ever answered.
func TestClaimFalCancelsReadsPendingIndex(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.pool.Exec(b.ctx, `
		WITH g AS (
			INSERT INTO generations (id, client, status, endpoint_id, input, fal_request_id, finished_at)
			SELECT gen_random_uuid(), 'tests', 'completed', 'fal-ai/fooocus/image-prompt', '{}', 'req-' || i, now()
			FROM generate_series(1, 20000) i
			RETURNING id, fal_request_id)
		INSERT INTO fal_request_cancels (generation_id, fal_request_id, reason, attempts, attempted_at, answered_at, answer)
		SELECT id, fal_request_id || '-superseded', 'superseded', 1, 'infinity', now(), 'ALREADY_COMPLETED' FROM g;
		UPDATE fal_request_cancels SET answered_at = NULL, answer = NULL, attempted_at = NULL
		WHERE fal_request_id IN ('req-1-superseded', 'req-2-superseded');
		ANALYZE generations;
		ANALYZE fal_request_cancels`)
	require.NoError(t, err)

	var plan json.RawMessage
	require.NoError(t, b.pool.QueryRow(b.ctx, `EXPLAIN (FORMAT JSON) `+store.ClaimFalCancelsSQL, time.Minute, 50).Scan(&plan))
	var nodes []struct {
		Plan planNode `json:"Plan"`
	}
	require.NoError(t, json.Unmarshal(plan, &nodes))
	var indexes []string
	nodes[0].Plan.walk(func(n planNode) {
		if n.Relation == "fal_request_cancels" && n.Type != "ModifyTable" {
			require.Contains(t, []string{"Index Scan", "Index Only Scan", "Bitmap Heap Scan"}, n.Type, string(plan))
			indexes = append(indexes, n.Index)
		}
	})
	require.Contains(t, indexes, "fal_request_cancels_pending_idx", string(plan))

	claimed, err := store.ClaimFalCancels(b.ctx, b.pool, time.Minute, 50)
	require.NoError(t, err)
	require.Len(t, claimed, 2)
}

// A generation's cancels go with it. Its cancel is pending, so only the
// override deletes it (migration 000028).
func TestFalCancelsDeletedWithGeneration(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.withRequest(t)
	_, err := store.PrepareTimeout(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	b.deleteGeneration(t, g.ID, true)
	require.Empty(t, b.cancels(t, g.ID))
}
