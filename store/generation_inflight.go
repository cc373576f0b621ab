package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// InflightLimits cap the generations in flight at fal: unfinished, with a
// submission fal may have accepted (fal_submissions > 0). Zero means no cap.
type InflightLimits struct {
	// Global caps all clients together (FAL_MAX_INFLIGHT).
	Global int
	// PerClient caps each client (EASEL_CLIENT_MAX_INFLIGHT), so that one
	// caller's burst cannot take every slot.
	PerClient int
}

var (
	// ErrInflightLimit is returned by ReserveSubmission when the global cap
	// is reached.
	ErrInflightLimit = errors.New("FAL_MAX_INFLIGHT generations are in flight")
	// ErrClientInflightLimit is returned by ReserveSubmission when the
	// generation's client is at its own cap.
	ErrClientInflightLimit = errors.New("the client's in-flight cap is reached")
)

// inflightLockKey names the transaction-scoped advisory lock that serialises
// counting and reserving slots across every Easel process on the database.
const inflightLockKey int64 = 0x65617365_6c696e66 // "easelinf"

// ReserveSubmission is MarkSubmitting within limits: under an advisory lock
// held until tx ends, it counts the generations in flight, other than id,
// and marks id submitting only if that leaves room. Two processes can
// therefore never both take the last slot. It returns ErrInflightLimit or
// ErrClientInflightLimit, changing nothing, at a cap. The lock is held until
// tx commits, so keep the transaction short: never call fal inside it.
func ReserveSubmission(ctx context.Context, tx pgx.Tx, id uuid.UUID, client string, limits InflightLimits) (*Generation, error) {
	if limits.Global > 0 || limits.PerClient > 0 {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, inflightLockKey); err != nil {
			return nil, fmt.Errorf("lock in-flight count: %w", err)
		}
		global, ofClient, err := countInflight(ctx, tx, id, client)
		if err != nil {
			return nil, err
		}
		switch {
		case limits.Global > 0 && global >= limits.Global:
			return nil, fmt.Errorf("reserve submission of generation %s: %d in flight: %w", id, global, ErrInflightLimit)
		case limits.PerClient > 0 && ofClient >= limits.PerClient:
			return nil, fmt.Errorf("reserve submission of generation %s: client %s has %d in flight: %w", id, client, ofClient, ErrClientInflightLimit)
		}
	}
	return MarkSubmitting(ctx, tx, id)
}

// CountInflight returns the number of generations in flight at fal, in all
// and for client.
func CountInflight(ctx context.Context, db DBTX, client string) (global, ofClient int, err error) {
	return countInflight(ctx, db, uuid.Nil, client)
}

func countInflight(ctx context.Context, db DBTX, except uuid.UUID, client string) (global, ofClient int, err error) {
	err = db.QueryRow(ctx, `
		SELECT count(*), count(*) FILTER (WHERE client = $2)
		FROM generations
		WHERE finished_at IS NULL AND fal_submissions > 0 AND id <> $1`, except, client).Scan(&global, &ofClient)
	if err != nil {
		return 0, 0, fmt.Errorf("count generations in flight: %w", err)
	}
	return global, ofClient, nil
}
