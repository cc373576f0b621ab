package store

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Outcomes of a received webhook, as stored in webhook_events.outcome.
const (
	OutcomeApplied      = "applied"       // finished the generation
	OutcomeDuplicate    = "duplicate"     // a repeat for a generation that already finished with a result
	OutcomeLate         = "late"          // a result for a generation that ended without one first (cancelled, timed out, failed by Easel); kept, not applied
	OutcomeDeferred     = "deferred"      // signed and parsed, but the reconciler applies it: its result must be fetched (payload_error), or it reports Easel's own cancel (client_cancelled)
	OutcomeBadSignature = "bad_signature" // verification failed; nothing applied
	OutcomeMalformed    = "malformed"     // signed, but the body is not a fal webhook

	// OutcomeMismatchedRequest is a signed delivery for a fal request that
	// is not the generation's (see LockWebhookTarget). fal signs every
	// account's webhooks with the same keys and the signature does not
	// cover the URL, so this is another account's request, or a replay of
	// another generation's result, sent to this generation's URL. Nothing
	// is applied.
	OutcomeMismatchedRequest = "mismatched_request"
	// OutcomeUnknownGeneration is a signed delivery whose URL names no
	// generation, stored with a null generation_id.
	OutcomeUnknownGeneration = "unknown_generation"
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

// MaxWebhookEvents bounds the events kept per generation. fal delivers a
// result once, or a few times when deliveries fail; anything beyond this is
// replayed or forged traffic, which must not grow the table without bound.
// The event that applied a result is always kept.
const MaxWebhookEvents = 32

// InsertWebhookEvent stores a received webhook and returns its id. It
// returns ErrNotFound, writing nothing, when GenerationID names no
// generation, and 0 without storing the event when the generation already
// has MaxWebhookEvents events and this one applied nothing.
//
// Deliveries arriving together never exceed the cap: while the generation
// is under it, the count and the insert are made holding the generation's
// row, as a signed delivery being recorded holds it (LockWebhookTarget).
// The lock is taken only while there is room, so a flood of forged
// deliveries at the cap takes none, writes nothing, and does not hold up
// the generation's own.
func InsertWebhookEvent(ctx context.Context, db interface {
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}, e WebhookEvent,
) (int64, error) {
	if e.GenerationID == nil {
		return 0, fmt.Errorf("webhook event: %w", ErrNotFound)
	}
	// One round trip and one transaction: a batch runs in an implicit one,
	// so the lock is held until the insert is committed. The insert counts
	// again, in a snapshot of its own, taken once the lock is held.
	var (
		b       pgx.Batch
		id      int64
		scanErr error
	)
	b.Queue(lockWebhookEventRoom, e.GenerationID, e.Outcome, MaxWebhookEvents)
	b.Queue(insertWebhookEvent, e.insertArgs()...).QueryRow(func(row pgx.Row) error {
		id, scanErr = scanInsertedWebhookEvent(row, e)
		return scanErr
	})
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		if scanErr != nil {
			// With its context already.
			return 0, scanErr
		}
		return 0, fmt.Errorf("insert webhook event for generation %s: %w", e.GenerationID, err)
	}
	return id, nil
}

// lockWebhookEventRoom locks generation $1 when, as far as the statement's
// snapshot shows, an event of outcome $2 may still be stored for it under a
// cap of $3 events: insertWebhookEvent's rule. FOR NO KEY UPDATE waits for
// LockWebhookTarget's FOR UPDATE and for other deliveries, not for the
// foreign key checks of rows that reference the generation.
const lockWebhookEventRoom = `
	SELECT FROM generations g
	WHERE g.id = $1 AND ($2 = 'applied' OR (SELECT count(*) FROM webhook_events w WHERE w.generation_id = g.id) < $3)
	FOR NO KEY UPDATE`

// insertWebhookEvent is InsertWebhookEvent's statement; insertArgs gives
// its arguments and scanInsertedWebhookEvent reads its answer.
const insertWebhookEvent = `
	WITH target AS (
		SELECT g.id, (SELECT count(*) FROM webhook_events w WHERE w.generation_id = g.id) AS events
		FROM generations g WHERE g.id = $1
	), inserted AS (
		INSERT INTO webhook_events (generation_id, fal_request_id, headers, body, body_size,
			signature_valid, signature_error, outcome)
		SELECT target.id, NULLIF($2, ''), $3, $4, $5, $6, NULLIF($7, ''), $8
		FROM target WHERE $8 = 'applied' OR target.events < $9
		RETURNING id
	)
	SELECT (SELECT id FROM inserted), EXISTS (SELECT 1 FROM target)`

func (e WebhookEvent) insertArgs() []any {
	headers := e.Headers
	if headers == nil {
		headers = map[string]string{}
	}
	return []any{e.GenerationID, e.FalRequestID, headers, e.Body, e.BodySize, e.SignatureValid, e.SignatureError, e.Outcome,
		MaxWebhookEvents}
}

func scanInsertedWebhookEvent(row pgx.Row, e WebhookEvent) (int64, error) {
	var (
		id     *int64
		exists bool
	)
	if err := row.Scan(&id, &exists); err != nil {
		return 0, fmt.Errorf("insert webhook event: %w", err)
	}
	if !exists {
		return 0, fmt.Errorf("webhook event for generation %s: %w", e.GenerationID, ErrNotFound)
	}
	if id == nil {
		return 0, nil
	}
	return *id, nil
}
