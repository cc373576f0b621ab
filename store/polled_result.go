package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// PolledResult is a result of fal's that Easel fetched from fal's queue
// rather than received by webhook: one row of polled_results.
type PolledResult struct {
	ID           int64
	GenerationID uuid.UUID
	FalRequestID string
	FetchedAt    time.Time
	// Status is fal.WebhookStatusOK or fal.WebhookStatusError: whether Body
	// is the model's output or the error fal failed the request with.
	Status  string
	Body    []byte
	Outcome WebhookOutcome
}

// InsertPolledResult keeps body, fal's result for request requestID of
// generation id, fetched from fal's queue, with what it did to the
// generation. Call it in the transaction that applies the result, so that
// the two commit together: the output of a generation failed
// ErrorCodeInvalidOutput, or completed with fields Easel could not read, is
// then always there to see.
func InsertPolledResult(ctx context.Context, db DBTX, id uuid.UUID, requestID, status string, body []byte, outcome WebhookOutcome) error {
	if body == nil {
		body = []byte{}
	}
	_, err := db.Exec(ctx, `
		INSERT INTO polled_results (generation_id, fal_request_id, status, body, outcome)
		VALUES ($1, $2, $3, $4, $5)`, id, requestID, status, body, outcome)
	if err != nil {
		return fmt.Errorf("keep polled result of generation %s: %w", id, err)
	}
	return nil
}

// ListPolledResults returns the results fetched from fal's queue for
// generation id, oldest first.
func ListPolledResults(ctx context.Context, db DBTX, id uuid.UUID) ([]PolledResult, error) {
	rows, err := db.Query(ctx, `
		SELECT id, generation_id, fal_request_id, fetched_at, status, body, outcome
		FROM polled_results WHERE generation_id = $1
		ORDER BY fetched_at, id`, id)
	if err != nil {
		return nil, fmt.Errorf("list polled results of generation %s: %w", id, err)
	}
	results, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (PolledResult, error) {
		var r PolledResult
		err := row.Scan(&r.ID, &r.GenerationID, &r.FalRequestID, &r.FetchedAt, &r.Status, &r.Body, &r.Outcome)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("list polled results of generation %s: %w", id, err)
	}
	return results, nil
}
