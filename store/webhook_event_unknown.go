package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// OutcomeDeletedGeneration is a signed delivery for a generation that was
// deleted: its fal request, or the generation its URL names, is in
// deleted_fal_requests (migration 000028). It is stored with a null
// generation_id and without its body, which holds the images' links or,
// for fal's error, the input echoed back: the personal data the deletion
// removed. Its request id, size, headers and time are kept for the
// invoice.
const OutcomeDeletedGeneration WebhookOutcome = "deleted_generation"

// unknownWebhookLockClass is the first key of the advisory locks that
// serialise storing the deliveries of one fal request at unknown generations,
// the second being hashtext(fal request id). Two-key advisory locks never
// conflict with the one-key locks River and golang-migrate take, and this
// class is not simulatorLockClass.
const unknownWebhookLockClass = 0x45535755 // "ESWU"

// InsertUnknownGenerationWebhookEvent stores a signed delivery whose URL
// names no generation, with a null generation_id, and returns its id and
// outcome. e.GenerationID is the id the URL named, or nil; e.Outcome is
// ignored. The outcome is OutcomeDeletedGeneration, and the body is not
// stored (body_size still says how long it was), when e.FalRequestID or
// e.GenerationID is a deleted generation's (deleted_fal_requests);
// otherwise it is OutcomeUnknownGeneration, and the body is kept: the only
// record of a request fal ran, and may bill, for an id Easel never had.
// Cap the body before calling.
//
// Such deliveries are kept at most MaxWebhookEvents per fal request, both
// outcomes counted together, so that a result fal sent to a wrong URL can
// still be found; beyond the cap (replays of one delivery at many ids) it
// stores nothing and returns 0, with the outcome the delivery had.
//
// Deliveries of one request arriving together never exceed the cap: the
// count and the insert are made holding an advisory lock named by the
// request. It is held only while they run, and no row is locked.
func InsertUnknownGenerationWebhookEvent(ctx context.Context, db Batcher, e WebhookEvent) (int64, WebhookOutcome, error) {
	if e.Headers == nil {
		e.Headers = map[string]string{}
	}
	// One round trip and one transaction: a batch runs in an implicit one,
	// so the lock is held until the insert is committed. The insert counts
	// in a snapshot of its own, taken once the lock is held.
	var (
		b       pgx.Batch
		id      *int64
		deleted bool
	)
	b.Queue(`SELECT pg_advisory_xact_lock($1, hashtext($2))`, unknownWebhookLockClass, e.FalRequestID)
	b.Queue(`
		WITH deleted AS (
			SELECT EXISTS (SELECT FROM deleted_fal_requests WHERE fal_request_id = $1)
				OR EXISTS (SELECT FROM deleted_fal_requests WHERE generation_id = $9) AS deleted
		),
		inserted AS (
			INSERT INTO webhook_events (generation_id, fal_request_id, headers, body, body_size,
				signature_valid, signature_error, outcome)
			SELECT NULL, NULLIF($1, ''), $2, CASE WHEN d.deleted THEN ''::bytea ELSE $3 END, $4, $5, NULLIF($6, ''),
				CASE WHEN d.deleted THEN $10 ELSE $7 END
			FROM deleted d
			WHERE (SELECT count(*) FROM webhook_events WHERE generation_id IS NULL AND fal_request_id = $1) < $8
			RETURNING id
		)
		SELECT (SELECT id FROM inserted), (SELECT deleted FROM deleted)`,
		e.FalRequestID, e.Headers, e.Body, e.BodySize, e.SignatureValid, e.SignatureError, OutcomeUnknownGeneration,
		MaxWebhookEvents, e.GenerationID, OutcomeDeletedGeneration,
	).QueryRow(func(row pgx.Row) error { return row.Scan(&id, &deleted) })
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		return 0, "", fmt.Errorf("insert webhook event for an unknown generation: %w", err)
	}
	outcome := OutcomeUnknownGeneration
	if deleted {
		outcome = OutcomeDeletedGeneration
	}
	if id == nil {
		return 0, outcome, nil
	}
	return *id, outcome, nil
}
