package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// MatchWebhookRequest reports whether fal request requestID, named by a
// signed webhook at generation id's URL, may be that generation's. fal signs
// the webhooks of every account with the same keys and the signature does
// not cover the URL, so a valid signature proves only that fal sent the body
// somewhere. The request may be the generation's when:
//
//   - the generation records it; or, provided no other generation records
//     it (a replay of another generation's result),
//   - the generation records no request but has counted a submission: the
//     webhook beat the submit call's record of fal's answer, or that answer
//     was lost;
//   - the generation records another request but has counted a submission
//     whose answer was never recorded: the webhook is that earlier
//     submission's.
//
// A generation never submitted has no request fal could report on. Call it
// with the generation locked. It returns ErrNotFound when the generation
// does not exist.
func MatchWebhookRequest(ctx context.Context, db DBTX, id uuid.UUID, requestID string) (bool, error) {
	var match bool
	err := db.QueryRow(ctx, `
		SELECT CASE
			WHEN g.fal_request_id = $2 THEN true
			WHEN EXISTS (SELECT 1 FROM generations o WHERE o.fal_request_id = $2 AND o.id <> g.id) THEN false
			WHEN g.fal_request_id IS NULL THEN g.fal_submissions > 0
			ELSE g.fal_submissions > g.fal_submissions_confirmed
		END
		FROM generations g WHERE g.id = $1`, id, requestID).Scan(&match)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("generation %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("match fal request %s to generation %s: %w", requestID, id, err)
	}
	return match, nil
}
