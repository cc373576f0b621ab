package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// MarkSubmitting records that a submission to fal is about to start: it
// counts the attempt and stamps submitting_at, so a crash between fal
// accepting the request and RecordSubmitted leaves a visible trace. It returns
// ErrNotFound unless the generation exists and is still queued (a webhook may
// already have finished it, or it was cancelled).
func MarkSubmitting(ctx context.Context, db DBTX, id uuid.UUID) (*Generation, error) {
	g, err := scanGeneration(db.QueryRow(ctx, `
		UPDATE generations
		SET submitting_at = now(), attempts = attempts + 1, updated_at = now()
		WHERE id = $1 AND status = 'queued'
		RETURNING `+generationColumns, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("queued generation %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("mark generation %s submitting: %w", id, err)
	}
	return g, nil
}

// Submission is what fal answered to a submit.
type Submission struct {
	RequestID        string
	GatewayRequestID string
	StatusURL        string
	ResponseURL      string
	CancelURL        string
}

// RecordSubmitted stores fal's ids and URLs and moves a queued generation to
// submitted. A generation that a webhook already finished keeps its terminal
// state and the request id it was finished with; the submission is still
// counted in fal_submissions.
func RecordSubmitted(ctx context.Context, db DBTX, id uuid.UUID, s Submission) error {
	tag, err := db.Exec(ctx, `
		UPDATE generations SET
			status = CASE WHEN status = 'queued' THEN 'submitted' ELSE status END,
			fal_request_id = CASE WHEN finished_at IS NULL OR fal_request_id IS NULL THEN $2 ELSE fal_request_id END,
			fal_gateway_request_id = CASE WHEN finished_at IS NULL OR fal_gateway_request_id IS NULL THEN NULLIF($3, '') ELSE fal_gateway_request_id END,
			fal_status_url = $4, fal_response_url = $5, fal_cancel_url = $6,
			submitted_at = coalesce(submitted_at, now()),
			fal_submissions = fal_submissions + 1,
			error_code = NULL, error_message = NULL,
			updated_at = now()
		WHERE id = $1`,
		id, s.RequestID, s.GatewayRequestID, s.StatusURL, s.ResponseURL, s.CancelURL)
	if err != nil {
		return fmt.Errorf("record submission of generation %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("record submission of generation %s: %w", id, ErrNotFound)
	}
	return nil
}

// RecordSubmitError notes the last submit error of a generation that will be
// retried; it never changes the status.
func RecordSubmitError(ctx context.Context, db DBTX, id uuid.UUID, code, message string) error {
	_, err := db.Exec(ctx, `
		UPDATE generations SET error_code = $2, error_message = $3, updated_at = now()
		WHERE id = $1 AND finished_at IS NULL`, id, code, message)
	if err != nil {
		return fmt.Errorf("record submit error of generation %s: %w", id, err)
	}
	return nil
}
