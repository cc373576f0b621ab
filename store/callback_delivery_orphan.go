package store

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// OrphanedCallback is a delivery that AbandonOrphanedCallbacks abandoned.
type OrphanedCallback struct {
	ID           uuid.UUID
	GenerationID uuid.UUID
	JobID        int64
	// JobState is River's state of the job (cancelled, discarded,
	// completed), or "deleted" when the job is gone.
	JobState string
	Attempts int
}

// abandonOrphanedCallbacks finds its candidates through
// callback_deliveries_unfinished_idx, oldest first: its predicate is the
// index's, so the scan reads the deliveries not ended (a few, however long
// the history) and looks each one's job up by River's primary key.
const abandonOrphanedCallbacks = `
	WITH orphaned AS (
		SELECT d.id, coalesce(j.state::text, 'deleted') AS job_state
		FROM callback_deliveries d LEFT JOIN river_job j ON j.id = d.job_id
		WHERE d.delivered_at IS NULL AND d.abandoned_at IS NULL AND d.job_id IS NOT NULL
			AND (j.id IS NULL OR j.state IN ('cancelled', 'discarded', 'completed'))
		ORDER BY d.created_at
		LIMIT $1
		FOR UPDATE OF d SKIP LOCKED
	)
	UPDATE callback_deliveries d SET
		abandoned_at = now(),
		last_error = 'abandoned: River job ' || d.job_id || ' was ' || o.job_state
			|| ' before the callback was delivered' || coalesce('; last attempt: ' || d.last_error, '')
	FROM orphaned o
	WHERE d.id = o.id
	RETURNING d.id, d.generation_id, d.job_id, o.job_state, d.attempts`

// AbandonOrphanedCallbacks abandons up to limit deliveries that are neither
// delivered nor abandoned although their River job will never run again:
// River discarded it (rescued after its last attempt, whose process died
// before recording the outcome), someone cancelled or deleted it (River
// UI), or it completed without ending the delivery. Left alone, such a row
// would stay pending for good. last_error says why, after the last
// attempt's error. Rows another transaction holds are skipped.
//
// It reads the deliveries not ended, through an index of them (schema
// version 26), and each one's River job: its cost follows the callbacks
// under way, not the delivered history.
func AbandonOrphanedCallbacks(ctx context.Context, db DBTX, limit int) ([]OrphanedCallback, error) {
	rows, err := db.Query(ctx, abandonOrphanedCallbacks, limit)
	if err != nil {
		return nil, fmt.Errorf("abandon orphaned callbacks: %w", err)
	}
	orphans, err := pgx.CollectRows(rows, pgx.RowToStructByPos[OrphanedCallback])
	if err != nil {
		return nil, fmt.Errorf("abandon orphaned callbacks: %w", err)
	}
	return orphans, nil
}
