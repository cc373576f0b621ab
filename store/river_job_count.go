package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// RiverJobCount is the number of River jobs of one queue in one state.
type RiverJobCount struct {
	Queue string
	State string
	Count int64
}

// CountUnfinishedRiverJobs counts River's jobs that have not finished
// (available, pending, retryable, running, scheduled) by queue and state:
// the depth of each queue. River's fetch index, which leads with state and
// queue, serves it; finished jobs, however many River keeps, are not read.
func CountUnfinishedRiverJobs(ctx context.Context, db DBTX) ([]RiverJobCount, error) {
	rows, err := db.Query(ctx, `
		SELECT queue, state::text, count(*) FROM river_job
		WHERE state IN ('available', 'pending', 'retryable', 'running', 'scheduled')
		GROUP BY queue, state ORDER BY queue, state`)
	if err != nil {
		return nil, fmt.Errorf("count River jobs: %w", err)
	}
	counts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[RiverJobCount])
	if err != nil {
		return nil, fmt.Errorf("count River jobs: %w", err)
	}
	return counts, nil
}
