package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// SubmissionWait returns how much of wait is left since the generation's
// latest submission started (submitting_at), or 0 once it has passed or
// when nothing was submitted. It is computed by the database, whose clock
// stamped submitting_at, so that a process whose clock is off waits neither
// longer nor shorter. It returns ErrNotFound when the generation does not
// exist.
func SubmissionWait(ctx context.Context, db DBTX, id uuid.UUID, wait time.Duration) (time.Duration, error) {
	var left time.Duration
	err := db.QueryRow(ctx, `
		SELECT greatest(coalesce(submitting_at + $2::interval - now(), interval '0'), interval '0')
		FROM generations WHERE id = $1`, id, wait).Scan(&left)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("generation %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("time left before resubmitting generation %s: %w", id, err)
	}
	return left, nil
}
