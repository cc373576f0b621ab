package store

import (
	"context"
	"fmt"
)

// FalCancelPending is the answer CountFalRequestCancels gives a cancel fal
// has not answered yet.
const FalCancelPending FalCancelAnswer = "pending"

// FalCancelKey is a reason (FalCancelSuperseded, FalCancelTimeout) and an
// answer (FalCancelRequested and the others, or FalCancelPending).
type FalCancelKey struct {
	Reason FalCancelReason
	Answer FalCancelAnswer
}

// CountFalRequestCancels counts fal_request_cancels by reason and answer.
// The rows are kept for good, so each count only grows (but for pending):
// a rise of superseded requests answered FalCancelAlreadyCompleted is fal
// billing results Easel had no use for. It reads the whole table, which
// holds one row per request Easel superseded or timed out, few beside the
// generations.
func CountFalRequestCancels(ctx context.Context, db DBTX) (map[FalCancelKey]int64, error) {
	rows, err := db.Query(ctx, `
		SELECT reason, coalesce(answer, $1), count(*)
		FROM fal_request_cancels
		GROUP BY 1, 2`, FalCancelPending)
	if err != nil {
		return nil, fmt.Errorf("count fal request cancels: %w", err)
	}
	defer rows.Close()
	counts := make(map[FalCancelKey]int64)
	for rows.Next() {
		var (
			k FalCancelKey
			n int64
		)
		if err := rows.Scan(&k.Reason, &k.Answer, &n); err != nil {
			return nil, fmt.Errorf("count fal request cancels: %w", err)
		}
		counts[k] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count fal request cancels: %w", err)
	}
	return counts, nil
}
