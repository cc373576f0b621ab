package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// WebhookTarget is what a signed delivery needs to know of the generation
// its URL names.
type WebhookTarget struct {
	Status    Status
	ErrorCode *string
	// RequestMatches reports whether the fal request LockWebhookTarget was
	// given may be the generation's. fal signs the webhooks of every
	// account with the same keys and the signature does not cover the URL,
	// so a valid signature proves only that fal sent the body somewhere.
	// The request may be the generation's when:
	//
	//   - the generation records it; or, provided no other generation
	//     records it (a replay of another generation's result),
	//   - the generation records no request but has counted a submission:
	//     the webhook beat the submit call's record of fal's answer, or that
	//     answer was lost;
	//   - the generation records another request but has counted a
	//     submission whose answer was never recorded: the webhook is that
	//     earlier submission's.
	//
	// A generation never submitted has no request fal could report on.
	RequestMatches bool
}

// batchSender is satisfied by *pgxpool.Pool and *pgx.Conn.
type batchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// LockWebhookTarget begins a transaction on db and locks generation id in
// it, as LockGeneration does, reading only what a webhook needs and whether
// fal request requestID may be the generation's; the BEGIN travels with
// the lock, so this costs one round trip. The caller must commit or roll
// back the transaction. On error there is none, and the error wraps
// ErrNotFound when the generation does not exist.
func LockWebhookTarget(ctx context.Context, db batchSender, id uuid.UUID, requestID string) (pgx.Tx, *WebhookTarget, error) {
	var (
		b      pgx.Batch
		target WebhookTarget
	)
	b.BeginTx(pgx.TxOptions{})
	// Only g is locked: other generations are read for the replay check,
	// not held.
	b.Queue(`
		SELECT g.status, g.error_code, CASE
			WHEN g.fal_request_id = $2 THEN true
			WHEN EXISTS (SELECT 1 FROM generations o WHERE o.fal_request_id = $2 AND o.id <> g.id) THEN false
			WHEN g.fal_request_id IS NULL THEN g.fal_submissions > 0
			ELSE g.fal_submissions > g.fal_submissions_confirmed
		END
		FROM generations g WHERE g.id = $1
		FOR UPDATE OF g`, id, requestID).QueryRow(func(row pgx.Row) error {
		return row.Scan(&target.Status, &target.ErrorCode, &target.RequestMatches)
	})
	br := db.SendBatch(ctx, &b)
	err := br.Close()
	tx := br.Tx()
	if err == nil {
		return tx, &target, nil
	}
	// Rolling back also returns a pool's connection; a transaction whose
	// BEGIN failed is already closed.
	if rbErr := tx.Rollback(ctx); rbErr != nil && !errors.Is(rbErr, pgx.ErrTxClosed) {
		err = errors.Join(err, rbErr)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, fmt.Errorf("generation %s: %w", id, ErrNotFound)
	}
	return nil, nil, fmt.Errorf("lock generation %s for its webhook: %w", id, err)
}
