package store

import (
	"context"
	"fmt"
)

// CountPending returns how many of client's generations are unfinished
// (queued or submitted), counting no further than limit: a caller asking
// "is the client at its cap?" never pays for a flood beyond the cap.
// generations_pending_client_idx holds only unfinished rows.
func CountPending(ctx context.Context, db DBTX, client string, limit int) (int, error) {
	var n int
	err := db.QueryRow(ctx, `
		SELECT count(*) FROM (
			SELECT 1 FROM generations WHERE client = $1 AND finished_at IS NULL LIMIT $2
		) AS pending`, client, limit).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count pending generations of client %s: %w", client, err)
	}
	return n, nil
}
