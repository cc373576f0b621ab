package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ReserveFirstSubmission is ReserveSubmission for the common case, in one
// statement and no explicit transaction: a generation that is queued, was
// never submitted and names no fal request, and a global cap only. It locks
// the generation, claims a free slot of FAL_MAX_INFLIGHT and marks the
// generation submitting, all or nothing, and returns the generation as
// MarkSubmitting does.
//
// It returns nil, nil, changing nothing, whenever the generation is in any
// other state, the per-client cap is on, or no slot could be claimed (at the
// cap, or its slots not created yet): the caller then decides with the
// general path, which sees the generation locked and says why. That path
// costs five round trips and this one one, and at fal's rates nearly every
// submission is a first one.
func ReserveFirstSubmission(ctx context.Context, db DBTX, id uuid.UUID, limits InflightLimits) (*Generation, error) {
	if limits.Global <= 0 || limits.PerClient > 0 {
		return nil, nil
	}
	// The slot is claimed only if the generation qualifies (EXISTS gen), and
	// the generation marked only if a slot was claimed, so the statement
	// either does both or neither.
	g, err := scanGeneration(db.QueryRow(ctx, `
		WITH gen AS (
			SELECT id FROM generations
			WHERE id = $1 AND status = 'queued' AND fal_request_id IS NULL AND fal_submissions = 0
			FOR UPDATE
		), claimed AS (
			UPDATE inflight_slots SET generation_id = $1
			WHERE scope = $2 AND slot = (
				SELECT slot FROM inflight_slots
				WHERE scope = $2 AND generation_id IS NULL AND slot <= $3 AND EXISTS (SELECT FROM gen)
				ORDER BY slot
				LIMIT 1
				FOR UPDATE SKIP LOCKED)
			RETURNING slot
		)
		UPDATE generations SET `+markSubmittingSet+`
		WHERE id = (SELECT id FROM gen) AND EXISTS (SELECT FROM claimed)
		RETURNING `+generationColumns, id, globalScope, limits.Global))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reserve first submission of generation %s: %w", id, err)
	}
	return g, nil
}
