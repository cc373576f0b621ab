package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ClaimPolls returns up to limit submitted generations that fal should be
// asked about, stamping their last_polled_at so that the next claim, in this
// or any process, skips them for pollAfter: those with no webhook pollAfter
// after submission, and at once those whose webhook could not be applied
// (a payload_error delivery, whose result must be fetched). Least recently
// polled come first.
func ClaimPolls(ctx context.Context, db DBTX, pollAfter time.Duration, limit int) ([]*Generation, error) {
	rows, err := db.Query(ctx, `
		UPDATE generations SET last_polled_at = now()
		WHERE id IN (
			SELECT id FROM generations
			WHERE status = 'submitted'
				AND (last_webhook_at IS NOT NULL OR submitted_at < now() - $1::interval)
				AND (last_polled_at IS NULL OR last_polled_at < now() - $1::interval)
			ORDER BY coalesce(last_polled_at, submitted_at)
			LIMIT $2
			FOR UPDATE SKIP LOCKED)
		RETURNING `+generationColumns, pollAfter, limit)
	if err != nil {
		return nil, fmt.Errorf("claim generations to poll: %w", err)
	}
	gens, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Generation, error) { return scanGeneration(row) })
	if err != nil {
		return nil, fmt.Errorf("claim generations to poll: %w", err)
	}
	return gens, nil
}

// ListTimedOut returns up to limit generations in flight whose latest
// submission started more than timeout ago, oldest first.
func ListTimedOut(ctx context.Context, db DBTX, timeout time.Duration, limit int) ([]*Generation, error) {
	rows, err := db.Query(ctx, `
		SELECT `+generationColumns+` FROM generations
		WHERE finished_at IS NULL AND fal_submissions > 0 AND submitting_at < now() - $1::interval
		ORDER BY submitting_at
		LIMIT $2`, timeout, limit)
	if err != nil {
		return nil, fmt.Errorf("list timed out generations: %w", err)
	}
	gens, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Generation, error) { return scanGeneration(row) })
	if err != nil {
		return nil, fmt.Errorf("list timed out generations: %w", err)
	}
	return gens, nil
}
