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

// ReserveSubmission is MarkSubmitting within limits: it claims a slot of
// each cap for id (migration 000016) and marks id submitting. A slot has one
// holder, so no number of processes reserving at once can exceed a cap, and
// claiming skips slots other transactions hold locked instead of waiting on
// them: reservations do not serialise. A generation already in flight (being
// submitted again) keeps the slots it holds. Its slots are freed by a trigger
// when it stops being in flight, whichever path finishes or uncounts it.
//
// It returns ErrInflightLimit or ErrClientInflightLimit at a cap; the caller
// must then roll tx back. A free slot locked by a transaction that has not
// committed yet counts as taken, so near a cap a reservation may be refused
// that would fit a moment later: the cap is never exceeded, and may briefly
// be under-used. Keep tx short: never call fal inside it.
func ReserveSubmission(ctx context.Context, tx pgx.Tx, id uuid.UUID, client string, limits InflightLimits) (*Generation, error) {
	caps := []struct {
		scope string
		limit int
		err   error
	}{
		{globalScope, limits.Global, ErrInflightLimit},
		{clientScope(client), limits.PerClient, ErrClientInflightLimit},
	}
	for _, c := range caps {
		if c.limit <= 0 {
			continue
		}
		ok, err := claimSlot(ctx, tx, c.scope, id, c.limit)
		if err != nil {
			return nil, fmt.Errorf("reserve submission of generation %s: %w", id, err)
		}
		if !ok {
			return nil, fmt.Errorf("reserve submission of generation %s: all %d slots of %q taken: %w", id, c.limit, c.scope, c.err)
		}
	}
	return MarkSubmitting(ctx, tx, id)
}

// The scopes of inflight_slots: one for FAL_MAX_INFLIGHT, one per client.
const globalScope = ""

func clientScope(client string) string { return "client:" + client }

// claimSlot makes id hold one of slots 1..limit of scope, returning false
// when none is free. A scope's slots are created on first use.
func claimSlot(ctx context.Context, tx pgx.Tx, scope string, id uuid.UUID, limit int) (bool, error) {
	ok, err := tryClaimSlot(ctx, tx, scope, id, limit)
	if ok || err != nil {
		return ok, err
	}
	// Slots are created 1..n in one statement, so slot limit existing means
	// all of 1..limit do. If another transaction is creating them, ON
	// CONFLICT waits for it; either way they exist for the second try.
	tag, err := tx.Exec(ctx, `
		INSERT INTO inflight_slots (scope, slot)
		SELECT $1, n FROM generate_series(1, $2::integer) n
		WHERE NOT EXISTS (SELECT FROM inflight_slots WHERE scope = $1 AND slot = $2)
		ON CONFLICT DO NOTHING`, scope, limit)
	if err != nil {
		return false, fmt.Errorf("create %d in-flight slots of %q: %w", limit, scope, err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	return tryClaimSlot(ctx, tx, scope, id, limit)
}

func tryClaimSlot(ctx context.Context, tx pgx.Tx, scope string, id uuid.UUID, limit int) (bool, error) {
	var slot int
	err := tx.QueryRow(ctx, `
		WITH held AS (
			SELECT slot FROM inflight_slots WHERE scope = $1 AND generation_id = $2
		), claimed AS (
			UPDATE inflight_slots SET generation_id = $2
			WHERE scope = $1 AND slot = (
				SELECT slot FROM inflight_slots
				WHERE scope = $1 AND generation_id IS NULL AND slot <= $3 AND NOT EXISTS (SELECT FROM held)
				ORDER BY slot
				LIMIT 1
				FOR UPDATE SKIP LOCKED)
			RETURNING slot
		)
		SELECT slot FROM held UNION ALL SELECT slot FROM claimed
		LIMIT 1`, scope, id, limit).Scan(&slot)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim in-flight slot of %q: %w", scope, err)
	}
	return true, nil
}

// CountInflight returns the number of generations in flight at fal.
func CountInflight(ctx context.Context, db DBTX) (int, error) {
	var n int
	err := db.QueryRow(ctx, `
		SELECT count(*) FROM generations
		WHERE finished_at IS NULL AND fal_submissions > 0`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count generations in flight: %w", err)
	}
	return n, nil
}
