package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// FailJobless fails, with code and message, up to limit generations that
// nothing will ever submit: queued, due (run_at, or else created_at) more
// than dueAfter ago, and named by no River job of kind jobKind ({"generation_id":
// id} in its args) that will still run (available, pending, retryable,
// running or scheduled). Its job was cancelled or deleted by hand, or
// discarded. Only generations never submitted qualify: a counted submission
// may be running at fal, and the timeout settles those. It returns the
// generations it failed.
//
// With nothing stranded, every queued generation past due is considered, so
// the jobs are matched on args->>'generation_id' for a hash anti-join over
// the jobs that will still run (River's fetch index finds those) rather than
// by args @> through River's GIN index on args: that index has one entry
// for the key "generation_id" covering every job, finished ones included,
// and a probe cost 1.8 ms. Measured on 20,000 queued generations and
// 120,000 jobs: 34 ms against 36 s.
func FailJobless(ctx context.Context, db DBTX, jobKind string, dueAfter time.Duration, limit int, code, message string) ([]uuid.UUID, error) {
	rows, err := db.Query(ctx, `
		UPDATE generations SET status = 'failed', finished_at = now(), updated_at = now(),
			error_code = $4, error_message = $5
		WHERE id IN (
			SELECT g.id FROM generations g
			WHERE g.status = 'queued' AND g.fal_submissions = 0
				AND coalesce(g.run_at, g.created_at) < now() - $2::interval
				AND NOT EXISTS (
					SELECT 1 FROM river_job j
					WHERE j.args->>'generation_id' = g.id::text
						AND j.kind = $1
						AND j.state IN ('available', 'pending', 'retryable', 'running', 'scheduled'))
			LIMIT $3
			FOR UPDATE OF g SKIP LOCKED)
			AND status = 'queued' AND fal_submissions = 0
		RETURNING id`, jobKind, dueAfter, limit, code, message)
	if err != nil {
		return nil, fmt.Errorf("fail generations without a %s job: %w", jobKind, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("fail generations without a %s job: %w", jobKind, err)
	}
	return ids, nil
}
