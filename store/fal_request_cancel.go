package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Why a fal request is to be cancelled (fal_request_cancels.reason).
const (
	// FalCancelSuperseded: the result of another of the generation's
	// submissions finished it while this one, its recorded request, still
	// ran at fal.
	FalCancelSuperseded = "superseded"
	// FalCancelTimeout: the reconciler timed the generation out.
	FalCancelTimeout = "timeout"
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

// FalCancel is a fal request that Easel cancels at fal because nobody needs
// it any more: a row of fal_request_cancels. The row is written in the
// transaction that makes the request unneeded (or, for a timeout, before
// the cancel is sent), and deleted once fal has answered the cancel, so a
// process that dies in between, or a fal that cannot be reached, leaves it
// for the reconciler (ClaimFalCancels) rather than the request running to
// completion and billing.
type FalCancel struct {
	GenerationID uuid.UUID
	RequestID    string
	// EndpointID is the generation's, from which the cancel URL is derived
	// when CancelURL is empty.
	EndpointID string
	CancelURL  string
	Reason     string
	// Attempts counts the cancels sent, this claim's included.
	Attempts  int
	CreatedAt time.Time
}

// ClaimFalCancels returns up to limit cancels of requests of finished
// generations that fal has not answered, oldest attempt first, stamping
// their attempt so that the next claim, in this or any process, skips them
// for retryAfter. Cancels of unfinished generations are left to whoever
// wrote them: the reconciler's timeout, which fails the generation after
// sending its cancel, or times it out again at its next run.
func ClaimFalCancels(ctx context.Context, db DBTX, retryAfter time.Duration, limit int) ([]*FalCancel, error) {
	rows, err := db.Query(ctx, `
		UPDATE fal_request_cancels c SET attempts = c.attempts + 1, attempted_at = now()
		FROM generations g
		WHERE g.id = c.generation_id AND (c.generation_id, c.fal_request_id) IN (
			SELECT p.generation_id, p.fal_request_id
			FROM fal_request_cancels p JOIN generations f ON f.id = p.generation_id
			WHERE f.finished_at IS NOT NULL
				AND (p.attempted_at IS NULL OR p.attempted_at < now() - $1::interval)
			ORDER BY coalesce(p.attempted_at, p.created_at)
			LIMIT $2
			FOR UPDATE OF p SKIP LOCKED)
		RETURNING c.generation_id, c.fal_request_id, g.endpoint_id, coalesce(c.cancel_url, ''), c.reason,
			c.attempts, c.created_at`, retryAfter, limit)
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
// written down for the request is left as it is.
func QueueFalCancel(ctx context.Context, db DBTX, id uuid.UUID, requestID, cancelURL, reason string) error {
	_, err := db.Exec(ctx, `
		INSERT INTO fal_request_cancels (generation_id, fal_request_id, cancel_url, reason, attempts, attempted_at)
		VALUES ($1, $2, NULLIF($3, ''), $4, 1, now())
		ON CONFLICT (generation_id, fal_request_id) DO NOTHING`, id, requestID, cancelURL, reason)
	if err != nil {
		return fmt.Errorf("write down the cancel of fal request %s of generation %s: %w", requestID, id, err)
	}
	return nil
}

// FalCancelAnswered forgets the cancel of fal request requestID of
// generation id: fal answered it (cancelled, already completed, or not
// known), so nothing is left to do.
func FalCancelAnswered(ctx context.Context, db DBTX, id uuid.UUID, requestID string) error {
	if _, err := db.Exec(ctx, `DELETE FROM fal_request_cancels WHERE generation_id = $1 AND fal_request_id = $2`,
		id, requestID); err != nil {
		return fmt.Errorf("forget the answered cancel of fal request %s of generation %s: %w", requestID, id, err)
	}
	return nil
}

// RecordFalCancelError notes why the cancel of fal request requestID of
// generation id failed, for the next claim to try again, unless the cancel
// was written more than giveUpAfter ago: it is then forgotten, fal having
// had that long to finish the request anyway, and RecordFalCancelError
// reports true.
func RecordFalCancelError(ctx context.Context, db DBTX, id uuid.UUID, requestID, message string, giveUpAfter time.Duration) (bool, error) {
	tag, err := db.Exec(ctx, `
		DELETE FROM fal_request_cancels
		WHERE generation_id = $1 AND fal_request_id = $2 AND created_at < now() - $3::interval`,
		id, requestID, giveUpAfter)
	if err != nil {
		return false, fmt.Errorf("give up cancelling fal request %s of generation %s: %w", requestID, id, err)
	}
	if tag.RowsAffected() > 0 {
		return true, nil
	}
	if _, err := db.Exec(ctx, `
		UPDATE fal_request_cancels SET last_error = $3 WHERE generation_id = $1 AND fal_request_id = $2`,
		id, requestID, message); err != nil {
		return false, fmt.Errorf("record the failed cancel of fal request %s of generation %s: %w", requestID, id, err)
	}
	return false, nil
}

// TimeoutCancelRequested reports whether the reconciler asked fal to
// cancel request requestID of generation id because the generation timed
// out (PrepareTimeout), and fal's answer has not been recorded with the
// timeout yet: a client_cancelled result of that request is then the
// timeout's, not a cancel of the generation's owner.
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
