package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// InsertGenerationParams are the caller-chosen fields of a new generation.
type InsertGenerationParams struct {
	ID             uuid.UUID
	Client         string
	EndpointID     string
	Input          json.RawMessage
	Priority       int
	Metadata       json.RawMessage // nil → {}
	CallbackURL    string
	IdempotencyKey string
	RequestHash    []byte
	Seed           string // decimal or ""
	RunAt          time.Time
}

// ErrIdempotencyKeyTaken is returned by InsertGeneration when the client
// already has a generation with the same idempotency key.
var ErrIdempotencyKeyTaken = errors.New("idempotency key already used")

// InsertGeneration inserts a queued generation. When the client already used
// the idempotency key it inserts nothing and returns ErrIdempotencyKeyTaken
// without aborting the caller's transaction.
func InsertGeneration(ctx context.Context, db DBTX, p InsertGenerationParams) (*Generation, error) {
	metadata := p.Metadata
	if len(metadata) == 0 {
		metadata = json.RawMessage(`{}`)
	}
	g, err := scanGeneration(db.QueryRow(ctx, `
		INSERT INTO generations (id, client, endpoint_id, input, priority, metadata, callback_url,
			idempotency_key, request_hash, seed, run_at)
		VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''), NULLIF($8, ''), $9, NULLIF($10, '')::numeric, $11)
		ON CONFLICT (client, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
		RETURNING `+generationColumns,
		p.ID, p.Client, p.EndpointID, p.Input, p.Priority, metadata, p.CallbackURL,
		p.IdempotencyKey, p.RequestHash, p.Seed, nullTime(p.RunAt)))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrIdempotencyKeyTaken
	}
	if err != nil {
		return nil, fmt.Errorf("insert generation %s: %w", p.ID, err)
	}
	return g, nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
