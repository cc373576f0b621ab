package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

// WebhookWrite is what a signed delivery writes about the generation its
// URL names.
type WebhookWrite struct {
	// Event is the delivery, stored as InsertWebhookEvent stores it.
	Event WebhookEvent
	// Noted stamps the generation's last_webhook_at and records RequestID
	// as its fal request when it records none ("" records none): the
	// webhook beat the submit call's own record of it. A delivery for
	// another generation's request is not noted.
	Noted     bool
	RequestID string
	// Finish, for a noted delivery, finishes the generation, which must be
	// unfinished, with the delivery's result.
	Finish *Finish
}

// Finished is when a generation that Record finished was due and
// completed: what metrics.GenerationFinished observes.
type Finished struct {
	CreatedAt   time.Time
	RunAt       *time.Time
	CompletedAt *time.Time // nil when the result failed it
	// SupersededRequestID is the request the generation recorded when the
	// result of another one finished it (an earlier submission's, whose
	// answer was lost): queued to be cancelled at fal, since nobody needs
	// it any more (see TakeResultRequest). "" when there was none.
	SupersededRequestID string
}

// Record writes w about the generation tx locked and commits, in one round
// trip: at most one UPDATE of the generation, so that its finish and its
// note make one row version of a table with many indexes, then the images
// of a completion, the event, and the COMMIT. It returns the generation's
// times when w finished it, else nil. When the database refuses a
// statement nothing is committed; either way the caller still closes tx.
func (tx *WebhookTx) Record(ctx context.Context, w WebhookWrite) (*Finished, error) {
	id := tx.id
	if w.Finish != nil && !w.Noted {
		return nil, fmt.Errorf("record webhook of generation %s: a delivery that finishes it must be noted", id)
	}
	var (
		b        pgx.Batch
		finished *Finished
	)
	scanFinished := func(row pgx.Row) error {
		var (
			f          Finished
			superseded *string
		)
		if err := row.Scan(&f.CreatedAt, &f.RunAt, &f.CompletedAt, &superseded); err != nil {
			return fmt.Errorf("finish: %w", err)
		}
		if superseded != nil {
			f.SupersededRequestID = *superseded
		}
		finished = &f
		return nil
	}
	// The finishing UPDATE has no "WHERE finished_at IS NULL": the COMMIT
	// is already on its way, so a Go-side check of the answer would come
	// too late to stop it. The database refuses to finish a finished
	// generation instead (trigger generations_terminal_never_changes),
	// which fails the statement and skips the rest, COMMIT included. The
	// caller's lock on an unfinished generation rules that out anyway.
	//
	// The request whose result finishes the generation becomes its request,
	// and one it recorded until then is queued to be cancelled at fal
	// (resultRequestWith), in the same statement, which also records fal's
	// status of the request as COMPLETED: a result is fal's last word on it,
	// and what the reconciler's poll last saw (IN_QUEUE, IN_PROGRESS) is
	// no longer true.
	switch {
	case w.Finish != nil && w.Finish.Completion != nil:
		c := *w.Finish.Completion
		c.FalRequestID = cmp.Or(c.FalRequestID, w.RequestID)
		b.Queue(resultRequestWith("$2")+`
			UPDATE generations SET `+completedSet+`, last_webhook_at = now(), `+resultRequestSet("$2")+`,
				`+falStatusCompletedSet+`
			WHERE id = $1
			RETURNING created_at, run_at, completed_at, (SELECT fal_request_id FROM superseded)`,
			completionArgs(id, &c)...).QueryRow(scanFinished)
		if len(c.Images) > 0 {
			b.Queue(insertImages, imageArgs(id, c.Images)...)
		}
	case w.Finish != nil:
		b.Queue(resultRequestWith("$5")+`
			UPDATE generations SET `+finishedSet+`, last_webhook_at = now(), `+resultRequestSet("$5")+`,
				`+falStatusCompletedSet+`
			WHERE id = $1
			RETURNING created_at, run_at, completed_at, (SELECT fal_request_id FROM superseded)`,
			id, StatusFailed, w.Finish.ErrorCode, w.Finish.ErrorMessage, w.RequestID).QueryRow(scanFinished)
	case w.Noted:
		b.Queue(noteWebhook, id, w.RequestID)
	}
	event := w.Event
	event.GenerationID = &id
	b.Queue(insertWebhookEvent, event.insertArgs()...).QueryRow(func(row pgx.Row) error {
		_, err := scanInsertedWebhookEvent(row, event)
		return err
	})
	b.Queue("commit").Exec(func(tag pgconn.CommandTag) error {
		// A transaction that failed answers its COMMIT with ROLLBACK; the
		// pipeline skips the COMMIT after a failed statement anyway.
		if tag.String() != "COMMIT" {
			return fmt.Errorf("commit: answered %q", tag.String())
		}
		return nil
	})
	if err := tx.conn.SendBatch(ctx, &b).Close(); err != nil {
		return nil, fmt.Errorf("record webhook of generation %s: %w", id, err)
	}
	return finished, nil
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
		rollbackCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, _ = tx.conn.Exec(rollbackCtx, "rollback")
		cancel()
	}
	tx.conn.Release()
	tx.conn = nil
}
