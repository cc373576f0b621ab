package store

import (
	"context"
	"fmt"
)

// SubmissionAccounting tells, over the unfinished generations, of the
// submissions fal may have accepted, and so may bill, without Easel ever
// learning its answer (docs/RELIABILITY.md, guarantee 3).
type SubmissionAccounting struct {
	// Unconfirmed is the sum of fal_submissions - fal_submissions_confirmed:
	// lost answers, and submits under way (one each, for the call's length).
	Unconfirmed int64
	// Resubmitted counts the generations with more than one counted
	// submission: each was submitted again after an answer was lost, and
	// may be billed once per submission.
	Resubmitted int64
	// Held counts the queued generations held back as
	// ErrorCodeSubmitUnconfirmed.
	Held int64
}

// ReadSubmissionAccounting reads SubmissionAccounting in one query on
// unfinished rows only, through a partial index: its predicate is
// generations_inflight_idx's (a row without a counted submission has
// nothing unconfirmed, and a held one has at least one), and the planner
// reads that index or generations_pending_client_idx, whatever the history
// holds (0.7 ms beside 300k finished rows and 5k queued ones). Finished
// generations, the many rows no index serves, are left out: their
// submissions stay in their rows for the SQL in docs/RELIABILITY.md.
func ReadSubmissionAccounting(ctx context.Context, db DBTX) (SubmissionAccounting, error) {
	var a SubmissionAccounting
	err := db.QueryRow(ctx, `
		SELECT
			coalesce(sum(fal_submissions - fal_submissions_confirmed), 0),
			count(*) FILTER (WHERE fal_submissions > 1),
			count(*) FILTER (WHERE status = 'queued' AND error_code = $1)
		FROM generations
		WHERE finished_at IS NULL AND fal_submissions > 0`, ErrorCodeSubmitUnconfirmed).
		Scan(&a.Unconfirmed, &a.Resubmitted, &a.Held)
	if err != nil {
		return SubmissionAccounting{}, fmt.Errorf("read unconfirmed submissions: %w", err)
	}
	return a, nil
}
