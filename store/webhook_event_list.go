package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ReceivedWebhook is a stored webhook event without its body and headers:
// what a generation's timeline shows.
type ReceivedWebhook struct {
	ID             int64
	ReceivedAt     time.Time
	FalRequestID   string
	BodySize       int
	SignatureValid bool
	SignatureError string
	Outcome        WebhookOutcome
}

// ListReceivedWebhooks returns the first limit webhooks received for a
// generation, oldest first. The limit keeps a flood of forged deliveries from
// making one page unbounded.
func ListReceivedWebhooks(ctx context.Context, db DBTX, generationID uuid.UUID, limit int) ([]ReceivedWebhook, error) {
	rows, err := db.Query(ctx, `
		SELECT id, received_at, coalesce(fal_request_id, ''), body_size, signature_valid,
			coalesce(signature_error, ''), outcome
		FROM webhook_events WHERE generation_id = $1
		ORDER BY received_at, id
		LIMIT $2`, generationID, limit)
	if err != nil {
		return nil, fmt.Errorf("list webhooks of generation %s: %w", generationID, err)
	}
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ReceivedWebhook, error) {
		var e ReceivedWebhook
		err := row.Scan(&e.ID, &e.ReceivedAt, &e.FalRequestID, &e.BodySize, &e.SignatureValid, &e.SignatureError, &e.Outcome)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list webhooks of generation %s: %w", generationID, err)
	}
	return events, nil
}
