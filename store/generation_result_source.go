package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ResultSource is how the result of fal's that finished a generation
// reached Easel.
type ResultSource string

const (
	// ResultSourceWebhook: fal's webhook delivered it (webhook_events).
	ResultSourceWebhook ResultSource = "webhook"
	// ResultSourcePoll: Easel fetched it from fal's queue (polled_results),
	// mostly the reconciler, when no webhook had brought it within
	// EASEL_POLL_AFTER of the submission or the webhook carried none.
	ResultSourcePoll ResultSource = "poll"
)

// ResultOrigin is where and when the result that finished a generation
// reached Easel.
type ResultOrigin struct {
	Source ResultSource
	// At is when it arrived: the webhook's received_at, or the polled
	// result's fetched_at.
	At time.Time
}

// GetResultOrigin returns how the result of fal's that finished generation
// id reached Easel, or nil when none did: the generation is unfinished, or
// ended without one of fal's results (cancelled before fal ran it, timed
// out, failed by a submit error). Only a result that finished the
// generation counts (outcome applied): a webhook arriving after a polled
// result is a duplicate, and so is the other way round. Each side is one
// probe of its table's (generation_id, time) index, so it costs a
// generation's page two index lookups; lists, which would pay them per
// generation, do not call it.
func GetResultOrigin(ctx context.Context, db DBTX, id uuid.UUID) (*ResultOrigin, error) {
	var o ResultOrigin
	err := db.QueryRow(ctx, `
		SELECT source, at FROM (
			(SELECT $2 AS source, fetched_at AS at FROM polled_results
				WHERE generation_id = $1 AND outcome = $4 ORDER BY fetched_at LIMIT 1)
			UNION ALL
			(SELECT $3, received_at FROM webhook_events
				WHERE generation_id = $1 AND outcome = $4 ORDER BY received_at LIMIT 1)
		) applied
		ORDER BY at LIMIT 1`, id, ResultSourcePoll, ResultSourceWebhook, OutcomeApplied).Scan(&o.Source, &o.At)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get result origin of generation %s: %w", id, err)
	}
	return &o, nil
}
