package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// FalCancelReason is why a fal request is to be cancelled
// (fal_request_cancels.reason): FalCancelSuperseded or FalCancelTimeout.
type FalCancelReason string

// Why a fal request is to be cancelled.
const (
	// FalCancelSuperseded: the result of another of the generation's
	// submissions finished it while this one, its recorded request, still
	// ran at fal.
	FalCancelSuperseded FalCancelReason = "superseded"
	// FalCancelTimeout: the reconciler timed the generation out.
	FalCancelTimeout FalCancelReason = "timeout"
)

// FalCancelQueuedChannel is the Postgres notification channel on which the
// transaction that queues a superseded request's cancel says so, with
// payload FalCancelSuperseded, from within the transaction: it is rare (an
// answer lost and the generation submitted again), and delivered only once
// the row it announces has committed. Worker processes listen on it to send
// the cancel at once (jobs.FalCancelSender) rather than at the reconciler's
// next run, by which time fal has usually run and billed the request. A
// notification is a wake-up: the reconciler still sends what none was
// listening for.
const FalCancelQueuedChannel = "easel_fal_cancel_queued"

// FalCancelAnswer is what became of a cancel (fal_request_cancels.answer):
// fal's answer, as fal spells it (fal.CancelOutcome), or Easel's. A
// fal.CancelOutcome becomes one only once it is known to be one of fal's
// three (jobs checks what fal's API returns).
type FalCancelAnswer string

// What became of a cancel.
const (
	// FalCancelRequested: fal dropped the request from its queue, or
	// stopped it running.
	FalCancelRequested FalCancelAnswer = "CANCELLATION_REQUESTED"
	// FalCancelAlreadyCompleted: fal had run the request to its end, and
	// billed it.
	FalCancelAlreadyCompleted FalCancelAnswer = "ALREADY_COMPLETED"
	// FalCancelNotFound: fal did not know the request.
	FalCancelNotFound FalCancelAnswer = "NOT_FOUND"
	// FalCancelRefused: fal refused the cancel (a 4xx), or the client
	// refused to send it; no retry could change that.
	FalCancelRefused FalCancelAnswer = "refused"
	// FalCancelGaveUp: fal did not answer before the cancel was too old to
	// matter (RecordFalCancelError).
	FalCancelGaveUp FalCancelAnswer = "gave_up"
)

// checkFalCancelAnswer refuses the answers of the type that FalCancelAnswered
// and FailTimedOut may not record, which the type cannot rule out:
// FalCancelGaveUp, which only RecordFalCancelError decides, and
// FalCancelPending, which is no answer. A value converted from elsewhere
// that is none of the constants is the table's CHECK's to refuse
// (fal_request_cancels_answer).
func checkFalCancelAnswer(answer FalCancelAnswer) error {
	if answer == FalCancelGaveUp || answer == FalCancelPending {
		return fmt.Errorf("answer %q: want one of %s, %s, %s (fal's answers) or %s", answer,
			FalCancelRequested, FalCancelAlreadyCompleted, FalCancelNotFound, FalCancelRefused)
	}
	return nil
}

// FalCancel is a fal request that Easel cancels at fal because nobody needs
// it any more: a row of fal_request_cancels, pending until the answer to
// its cancel is recorded on it. The row is written in the transaction that
// makes the request unneeded (or, for a timeout, before the cancel is
// sent), so a process that dies in between, or a fal that cannot be
// reached, leaves it for the reconciler (ClaimFalCancels) rather than the
// request running to completion and billing. It is kept once answered:
// the generation may record another request, and then the row is the only
// place a request fal billed (answered ALREADY_COMPLETED, or given up) is
// named.
type FalCancel struct {
	GenerationID uuid.UUID
	RequestID    string
	// EndpointID is the generation's, from which the cancel URL is derived
	// when CancelURL is empty.
	EndpointID string
	CancelURL  string
	Reason     FalCancelReason
	// Attempts counts the cancels sent, this claim's included.
	Attempts  int
	CreatedAt time.Time
}

// claimFalCancels is ClaimFalCancels' statement. The answered rows, kept
// for good, are most of the table: the pending ones are read through
// fal_request_cancels_pending_idx (its predicate, its order).
const claimFalCancels = `
		UPDATE fal_request_cancels c SET attempts = c.attempts + 1, attempted_at = now()
		FROM generations g
		WHERE g.id = c.generation_id AND (c.generation_id, c.fal_request_id) IN (
			SELECT p.generation_id, p.fal_request_id
			FROM fal_request_cancels p JOIN generations f ON f.id = p.generation_id
			WHERE p.answered_at IS NULL AND f.finished_at IS NOT NULL
				AND (p.attempted_at IS NULL OR p.attempted_at < now() - $1::interval)
			ORDER BY coalesce(p.attempted_at, p.created_at)
			LIMIT $2
			FOR UPDATE OF p SKIP LOCKED)
		RETURNING c.generation_id, c.fal_request_id, g.endpoint_id, coalesce(c.cancel_url, ''), c.reason,
			c.attempts, c.created_at`

// ClaimFalCancels returns up to limit pending cancels (no answer recorded)
// of requests of finished generations, oldest attempt first, stamping
// their attempt so that the next claim, in this or any process, skips them
// for retryAfter. Cancels of unfinished generations are left to whoever
// wrote them: the reconciler's timeout, which fails the generation after
// sending its cancel, or times it out again at its next run.
func ClaimFalCancels(ctx context.Context, db DBTX, retryAfter time.Duration, limit int) ([]*FalCancel, error) {
	rows, err := db.Query(ctx, claimFalCancels, retryAfter, limit)
	if err != nil {
		return nil, fmt.Errorf("claim fal requests to cancel: %w", err)
	}
	cancels, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*FalCancel, error) {
		var c FalCancel
		err := row.Scan(&c.GenerationID, &c.RequestID, &c.EndpointID, &c.CancelURL, &c.Reason, &c.Attempts, &c.CreatedAt)
		return &c, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim fal requests to cancel: %w", err)
	}
	return cancels, nil
}

// QueueFalCancel writes down that fal request requestID of generation id
// is to be cancelled, before the cancel is sent: should the process die
// first, or fal not answer, the reconciler sends it once the generation has
// finished (ClaimFalCancels). cancelURL may be empty. A cancel already
// written down for the request is left as it is, answered or not.
func QueueFalCancel(ctx context.Context, db DBTX, id uuid.UUID, requestID, cancelURL string, reason FalCancelReason) error {
	_, err := db.Exec(ctx, `
		INSERT INTO fal_request_cancels (generation_id, fal_request_id, cancel_url, reason, attempts, attempted_at)
		VALUES ($1, $2, NULLIF($3, ''), $4, 1, now())
		ON CONFLICT (generation_id, fal_request_id) DO NOTHING`, id, requestID, cancelURL, reason)
	if err != nil {
		return fmt.Errorf("write down the cancel of fal request %s of generation %s: %w", requestID, id, err)
	}
	return nil
}

// answeredSet is the SET of an UPDATE of fal_request_cancels that records
// answer, a parameter, on a pending cancel, and lastError, one too, unless
// it is empty. attempted_at goes to infinity: binaries before schema
// version 25 know no answer, and their claim never reaches such a row
// (migration 000025).
func answeredSet(answer, lastError string) string {
	return `answer = ` + answer + `, answered_at = now(), attempted_at = 'infinity',
		last_error = coalesce(NULLIF(` + lastError + `, ''), last_error)`
}

// FalCancelAnswered records answer, fal's answer to the cancel of fal
// request requestID of generation id (FalCancelRequested,
// FalCancelAlreadyCompleted, FalCancelNotFound) or FalCancelRefused, with
// lastError, why it was refused ("" for fal's answers). The row is kept,
// no longer pending: the request may be named nowhere else. A cancel
// already answered keeps its first answer. A cancel never written down
// (QueueFalCancel failed before it was sent) is written now, answered,
// with cancelURL (may be empty) and reason: otherwise the request, which
// may have run and billed, would be lost. FalCancelGaveUp or
// FalCancelPending as answer is an error naming it, and nothing is
// written.
func FalCancelAnswered(ctx context.Context, db DBTX, id uuid.UUID, requestID, cancelURL string, reason FalCancelReason,
	answer FalCancelAnswer, lastError string,
) error {
	if err := checkFalCancelAnswer(answer); err != nil {
		return fmt.Errorf("record the answer to the cancel of fal request %s of generation %s: %w", requestID, id, err)
	}
	// From generations, so that a generation deleted meanwhile, and its
	// cancels with it, is no error: there is nothing left to record.
	// attempted_at is infinity, as answeredSet has it, for the claims of
	// binaries before schema version 25.
	if _, err := db.Exec(ctx, `
		INSERT INTO fal_request_cancels AS c
			(generation_id, fal_request_id, cancel_url, reason, attempts, attempted_at, answer, answered_at, last_error)
		SELECT id, $2, NULLIF($5, ''), $6, 1, 'infinity', $3, now(), NULLIF($4, '') FROM generations WHERE id = $1
		ON CONFLICT (generation_id, fal_request_id) DO UPDATE SET answer = excluded.answer, answered_at = excluded.answered_at,
			attempted_at = excluded.attempted_at, last_error = coalesce(excluded.last_error, c.last_error)
			WHERE c.answered_at IS NULL`,
		id, requestID, answer, lastError, cancelURL, reason); err != nil {
		return fmt.Errorf("record the answer %s to the cancel of fal request %s of generation %s: %w", answer, requestID, id, err)
	}
	return nil
}

// RecordFalCancelError notes message, why the cancel of fal request
// requestID of generation id failed, for the next claim to try again,
// unless the cancel was written more than giveUpAfter ago: it is then
// given up, answered FalCancelGaveUp with message as its last error, fal
// having had that long to finish the request anyway, and
// RecordFalCancelError reports true. The row is kept either way: a request
// given up on may have run and billed.
func RecordFalCancelError(ctx context.Context, db DBTX, id uuid.UUID, requestID, message string, giveUpAfter time.Duration) (bool, error) {
	var gaveUp bool
	// SET reads the row as it was: created_at decides every column alike.
	err := db.QueryRow(ctx, `
		UPDATE fal_request_cancels SET last_error = $3,
			answer = CASE WHEN created_at < now() - $4::interval THEN '`+string(FalCancelGaveUp)+`' END,
			answered_at = CASE WHEN created_at < now() - $4::interval THEN now() END,
			attempted_at = CASE WHEN created_at < now() - $4::interval THEN 'infinity' ELSE attempted_at END
		WHERE generation_id = $1 AND fal_request_id = $2 AND answered_at IS NULL
		RETURNING answer IS NOT NULL`, id, requestID, message, giveUpAfter).Scan(&gaveUp)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil // answered meanwhile, or gone with its generation
	}
	if err != nil {
		return false, fmt.Errorf("record the failed cancel of fal request %s of generation %s: %w", requestID, id, err)
	}
	return gaveUp, nil
}

// TimeoutCancelRequested reports whether the reconciler asked fal to
// cancel request requestID of generation id because the generation timed
// out (PrepareTimeout): a client_cancelled result of that request is then
// the timeout's, not a cancel of the generation's owner, whether or not
// fal's answer to the cancel was recorded (the generation may have been
// given another request since, and not failed).
func TimeoutCancelRequested(ctx context.Context, db DBTX, id uuid.UUID, requestID string) (bool, error) {
	var requested bool
	err := db.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM fal_request_cancels
			WHERE generation_id = $1 AND fal_request_id = $2 AND reason = $3)`,
		id, requestID, FalCancelTimeout).Scan(&requested)
	if err != nil {
		return false, fmt.Errorf("look up the timeout's cancel of fal request %s of generation %s: %w", requestID, id, err)
	}
	return requested, nil
}
