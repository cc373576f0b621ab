package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// unknownWebhookLockClass is the first key of the advisory locks that
// serialise storing the deliveries of one fal request at unknown generations,
// the second being hashtext(fal request id). Two-key advisory locks never
// conflict with the one-key locks River and golang-migrate take, and this
// class is not simulatorLockClass.
const unknownWebhookLockClass = 0x45535755 // "ESWU"

// InsertUnknownGenerationWebhookEvent stores a signed delivery whose URL
// names no generation, with a null generation_id and outcome
// OutcomeUnknownGeneration, and returns its id. e.GenerationID is ignored.
// Such deliveries are kept, at most MaxWebhookEvents per fal request, so
// that a result fal sent to a wrong URL can still be found; beyond the cap
// (replays of one delivery at many ids) it stores nothing and returns 0.
// Cap the body before calling: nothing in it will ever be applied.
//
// Deliveries of one request arriving together never exceed the cap: the
// count and the insert are made holding an advisory lock named by the
// request. It is held only while they run, and no row is locked.
func InsertUnknownGenerationWebhookEvent(ctx context.Context, db Batcher, e WebhookEvent) (int64, error) {
	if e.Headers == nil {
		e.Headers = map[string]string{}
	}
	// One round trip and one transaction: a batch runs in an implicit one,
	// so the lock is held until the insert is committed. The insert counts
	// in a snapshot of its own, taken once the lock is held.
	var (
		b  pgx.Batch
		id *int64
	)
	b.Queue(`SELECT pg_advisory_xact_lock($1, hashtext($2))`, unknownWebhookLockClass, e.FalRequestID)
	b.Queue(`
		WITH inserted AS (
			INSERT INTO webhook_events (generation_id, fal_request_id, headers, body, body_size,
				signature_valid, signature_error, outcome)
			SELECT NULL, NULLIF($1, ''), $2, $3, $4, $5, NULLIF($6, ''), $7
			WHERE (SELECT count(*) FROM webhook_events WHERE generation_id IS NULL AND fal_request_id = $1) < $8
			RETURNING id
		)
		SELECT (SELECT id FROM inserted)`,
		e.FalRequestID, e.Headers, e.Body, e.BodySize, e.SignatureValid, e.SignatureError, OutcomeUnknownGeneration,
		MaxWebhookEvents,
	).QueryRow(func(row pgx.Row) error { return row.Scan(&id) })
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		return 0, fmt.Errorf("insert webhook event for an unknown generation: %w", err)
	}
	if id == nil {
		return 0, nil
	}
	return *id, nil
}
