package store

import (
	"context"
	"fmt"
	"math"
	"time"
)

// UnfinishedAges are the ages of the oldest unfinished generations, by the
// database's clock.
type UnfinishedAges struct {
	// Queued is how long the longest-waiting queued generation has been
	// due: since it was created, or since its run_at when that is later. 0
	// when no queued generation is due.
	Queued time.Duration
	// Submitted is how long the oldest submitted generation has been at
	// fal, since its submission. 0 when none is submitted.
	Submitted time.Duration
}

// oldestUnfinished reads UnfinishedAges through indexes, touching only
// unfinished rows however many finished ones the table holds.
//
// A queued generation is due at greatest(created_at, run_at), which no
// index holds. The oldest one due at its creation (immediate) is found by
// walking generations_status_created_at_idx from the oldest queued row; no
// generation created after it can have been due before it, so only the
// scheduled ones created before it (run_at > created_at) need reading for
// an earlier run_at. The walk and that read cover the queued generations
// scheduled ahead of the oldest immediate one: none, unless a backlog of
// scheduled generations was created before it. The oldest submission is
// the first entry of generations_unfinished_idx for 'submitted'.
const oldestUnfinished = `
	WITH immediate AS (
		SELECT created_at FROM generations
		WHERE status = 'queued' AND (run_at IS NULL OR run_at <= created_at)
		ORDER BY created_at LIMIT 1
	)
	SELECT
		coalesce(extract(epoch FROM now() - least(
			(SELECT created_at FROM immediate),
			(SELECT min(run_at) FROM generations
				WHERE status = 'queued' AND run_at > created_at
					AND created_at < coalesce((SELECT created_at FROM immediate), 'infinity'))
		))::double precision, 0),
		coalesce(extract(epoch FROM now() - (
			SELECT min(submitted_at) FROM generations WHERE status = 'submitted'
		))::double precision, 0)`

// OldestUnfinished returns the ages of the oldest queued and submitted
// generations, for alerting on generations stuck before or at fal.
func OldestUnfinished(ctx context.Context, db DBTX) (UnfinishedAges, error) {
	var queued, submitted float64
	if err := db.QueryRow(ctx, oldestUnfinished).Scan(&queued, &submitted); err != nil {
		return UnfinishedAges{}, fmt.Errorf("read oldest unfinished generations: %w", err)
	}
	return UnfinishedAges{Queued: ageOf(queued), Submitted: ageOf(submitted)}, nil
}

// ageOf turns seconds into an age; a time ahead of now (a run_at not yet
// reached) is no age at all.
func ageOf(seconds float64) time.Duration {
	return time.Duration(math.Max(seconds, 0) * float64(time.Second))
}
