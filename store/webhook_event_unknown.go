package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// InsertUnknownGenerationWebhookEvent stores a signed delivery whose URL
// names no generation, with a null generation_id and outcome
// OutcomeUnknownGeneration, and returns its id. e.GenerationID is ignored.
// Such deliveries are kept, at most MaxWebhookEvents per fal request, so
// that a result fal sent to a wrong URL can still be found; beyond the cap
// (replays of one delivery at many ids) it stores nothing and returns 0.
// Cap the body before calling: nothing in it will ever be applied.
func InsertUnknownGenerationWebhookEvent(ctx context.Context, db DBTX, e WebhookEvent) (int64, error) {
	if e.Headers == nil {
		e.Headers = map[string]string{}
	}
	var id int64
	err := db.QueryRow(ctx, `
		INSERT INTO webhook_events (generation_id, fal_request_id, headers, body, body_size,
			signature_valid, signature_error, outcome)
		SELECT NULL, NULLIF($1, ''), $2, $3, $4, $5, NULLIF($6, ''), $7
		WHERE (SELECT count(*) FROM webhook_events WHERE generation_id IS NULL AND fal_request_id = $1) < $8
		RETURNING id`,
		e.FalRequestID, e.Headers, e.Body, e.BodySize, e.SignatureValid, e.SignatureError, OutcomeUnknownGeneration,
		MaxWebhookEvents,
	).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("insert webhook event for an unknown generation: %w", err)
	}
	return id, nil
}
