package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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

// WebhookTx is the transaction that records a signed delivery: it begins
// with the generation locked (LockWebhookTarget) and ends with Record, whose
// COMMIT travels with its writes, so a delivery costs two round trips. It
// holds a pool connection of its own rather than a pgx.Tx because a COMMIT
// sent inside a batch would leave a pgx.Tx believing it was still open.
type WebhookTx struct {
	conn *pgxpool.Conn
	id   uuid.UUID
}

// LockWebhookTarget begins a transaction on a connection of pool and locks
// generation id in it, as LockGeneration does, reading only what a webhook
// needs and whether fal request requestID may be the generation's; the
// BEGIN travels with the lock, so this costs one round trip. The caller
// must Close the transaction. On error there is none, and the error wraps
// ErrNotFound when the generation does not exist.
func LockWebhookTarget(ctx context.Context, pool *pgxpool.Pool, id uuid.UUID, requestID string) (*WebhookTx, *WebhookTarget, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("lock generation %s for its webhook: %w", id, err)
	}
	tx := &WebhookTx{conn: conn, id: id}
	var (
		b      pgx.Batch
		target WebhookTarget
	)
	b.Queue("begin")
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
	if err := conn.SendBatch(ctx, &b).Close(); err != nil {
		tx.Close(ctx)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil, fmt.Errorf("generation %s: %w", id, ErrNotFound)
		}
		return nil, nil, fmt.Errorf("lock generation %s for its webhook: %w", id, err)
	}
	return tx, &target, nil
}

// Close rolls tx back unless Record committed it, and returns its
// connection to the pool. It is safe to call more than once.
func (tx *WebhookTx) Close(ctx context.Context) {
	if tx.conn == nil {
		return
	}
	if pg := tx.conn.Conn().PgConn(); !pg.IsClosed() && pg.TxStatus() != 'I' {
		// Should the rollback fail, Release closes a connection left in a
		// transaction, and the server rolls back when it goes.
		_, _ = tx.conn.Exec(context.WithoutCancel(ctx), "rollback")
	}
	tx.conn.Release()
	tx.conn = nil
}
