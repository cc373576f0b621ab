package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// CallbackDelivery is one row of callback_deliveries: the callback owed for
// a finished generation that has a callback_url. A trigger inserts it in the
// transaction that finishes the generation.
type CallbackDelivery struct {
	// ID is the webhook-id of every attempt.
	ID            uuid.UUID
	GenerationID  uuid.UUID
	URL           string
	CreatedAt     time.Time
	JobID         *int64
	Attempts      int
	LastAttemptAt *time.Time
	LastStatus    *int
	LastError     *string
	DeliveredAt   *time.Time
	AbandonedAt   *time.Time
}

const callbackDeliveryColumns = `id, generation_id, url, created_at, job_id, attempts, last_attempt_at,
	last_status, last_error, delivered_at, abandoned_at`

func scanCallbackDelivery(row scanner) (*CallbackDelivery, error) {
	var d CallbackDelivery
	err := row.Scan(&d.ID, &d.GenerationID, &d.URL, &d.CreatedAt, &d.JobID, &d.Attempts, &d.LastAttemptAt,
		&d.LastStatus, &d.LastError, &d.DeliveredAt, &d.AbandonedAt)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// ClaimOwedCallbacks locks up to limit deliveries that have no job yet,
// oldest first, until tx ends. Rows another transaction holds are skipped,
// so several processes can claim at once without waiting on each other.
func ClaimOwedCallbacks(ctx context.Context, tx pgx.Tx, limit int) ([]*CallbackDelivery, error) {
	rows, err := tx.Query(ctx, `
		SELECT `+callbackDeliveryColumns+` FROM callback_deliveries
		WHERE job_id IS NULL ORDER BY created_at LIMIT $1
		FOR UPDATE SKIP LOCKED`, limit)
	if err != nil {
		return nil, fmt.Errorf("claim owed callbacks: %w", err)
	}
	deliveries, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*CallbackDelivery, error) {
		return scanCallbackDelivery(row)
	})
	if err != nil {
		return nil, fmt.Errorf("claim owed callbacks: %w", err)
	}
	return deliveries, nil
}

// SetCallbackJobs records the River job inserted for each delivery:
// jobIDs[i] delivers ids[i].
func SetCallbackJobs(ctx context.Context, db DBTX, ids []uuid.UUID, jobIDs []int64) error {
	if len(ids) != len(jobIDs) {
		return fmt.Errorf("set callback jobs: %d deliveries but %d jobs", len(ids), len(jobIDs))
	}
	_, err := db.Exec(ctx, `
		UPDATE callback_deliveries d SET job_id = u.job_id
		FROM unnest($1::uuid[], $2::bigint[]) AS u(id, job_id)
		WHERE d.id = u.id`, ids, jobIDs)
	if err != nil {
		return fmt.Errorf("set callback jobs: %w", err)
	}
	return nil
}

// GetCallbackDelivery returns the delivery with id, or ErrNotFound.
func GetCallbackDelivery(ctx context.Context, db DBTX, id uuid.UUID) (*CallbackDelivery, error) {
	d, err := scanCallbackDelivery(db.QueryRow(ctx, `SELECT `+callbackDeliveryColumns+` FROM callback_deliveries WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("callback delivery %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get callback delivery %s: %w", id, err)
	}
	return d, nil
}
