package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// callbackAttemptUnderWay is the last_error of a delivery from the moment
// an attempt starts until its outcome is recorded: what the row still says
// when the process stopped during the attempt.
const callbackAttemptUnderWay = "no outcome recorded: the attempt is under way, or its process stopped during it"

// CallbackAttempt is the outcome of one attempt at delivering a callback.
type CallbackAttempt struct {
	// Status is the receiver's HTTP status; 0 when no answer came.
	Status int
	// Error says why the attempt failed; empty when it delivered.
	Error string
	// Delivered ends the delivery successfully; Abandoned ends it without.
	Delivered bool
	Abandoned bool
}

// StartCallbackAttempt counts an attempt of River job jobID at delivering
// the callback before it is made, so that an attempt whose process dies
// during it is counted all the same. It reports false, counting nothing,
// when the delivery has ended (delivered or abandoned), is no longer
// jobID's (it was asked for again, and has another job or none yet), or no
// longer exists.
func StartCallbackAttempt(ctx context.Context, db DBTX, id uuid.UUID, jobID int64) (bool, error) {
	var attempts int
	err := db.QueryRow(ctx, `
		UPDATE callback_deliveries SET
			attempts = attempts + 1, last_attempt_at = now(), last_status = NULL, last_error = $2
		WHERE id = $1 AND job_id = $3 AND delivered_at IS NULL AND abandoned_at IS NULL
		RETURNING attempts`, id, callbackAttemptUnderWay, jobID).Scan(&attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("start attempt of callback delivery %s: %w", id, err)
	}
	return true, nil
}

// FinishCallbackAttempt stores the outcome of the attempt that
// StartCallbackAttempt counted, unless the delivery has ended meanwhile.
func FinishCallbackAttempt(ctx context.Context, db DBTX, id uuid.UUID, a CallbackAttempt) error {
	_, err := db.Exec(ctx, `
		UPDATE callback_deliveries SET
			last_status = NULLIF($2, 0), last_error = NULLIF($3, ''),
			delivered_at = CASE WHEN $4 THEN now() END,
			abandoned_at = CASE WHEN $5 THEN now() END
		WHERE id = $1 AND delivered_at IS NULL AND abandoned_at IS NULL`, id, a.Status, a.Error, a.Delivered, a.Abandoned)
	if err != nil {
		return fmt.Errorf("record attempt of callback delivery %s: %w", id, err)
	}
	return nil
}
