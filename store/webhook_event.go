package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/google/uuid"
)

// Outcomes of a received webhook, as stored in webhook_events.outcome.
const (
	OutcomeApplied      = "applied"       // finished the generation
	OutcomeDuplicate    = "duplicate"     // the generation was already terminal
	OutcomeDeferred     = "deferred"      // signed and parsed, but the result must be fetched (payload_error)
	OutcomeBadSignature = "bad_signature" // verification failed; nothing applied
	OutcomeMalformed    = "malformed"     // signed, but the body is not a fal webhook
)

// WebhookEvent is one received webhook.
type WebhookEvent struct {
	GenerationID   *uuid.UUID
	FalRequestID   string
	Headers        map[string]string
	Body           []byte
	BodySize       int
	SignatureValid bool
	SignatureError string
	Outcome        string
}

// InsertWebhookEvent stores a received webhook and returns its id. It
// returns ErrNotFound when GenerationID names no generation.
func InsertWebhookEvent(ctx context.Context, db DBTX, e WebhookEvent) (int64, error) {
	if e.Headers == nil {
		e.Headers = map[string]string{}
	}
	var id int64
	err := db.QueryRow(ctx, `
		INSERT INTO webhook_events (generation_id, fal_request_id, headers, body, body_size,
			signature_valid, signature_error, outcome)
		VALUES ($1, NULLIF($2, ''), $3, $4, $5, $6, NULLIF($7, ''), $8)
		RETURNING id`,
		e.GenerationID, e.FalRequestID, e.Headers, e.Body, e.BodySize, e.SignatureValid, e.SignatureError, e.Outcome,
	).Scan(&id)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" { // foreign_key_violation
		return 0, fmt.Errorf("webhook event for generation %s: %w", e.GenerationID, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("insert webhook event: %w", err)
	}
	return id, nil
}
