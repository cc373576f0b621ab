package metrics

import (
	"context"
	"fmt"

	"github.com/easelhq/easel/store"
)

// errorCodeSubmitUnconfirmed is jobs.ErrorCodeSubmitUnconfirmed, the note
// on a queued generation held back from submitting again. It is spelled
// out because jobs imports metrics; TestSubmitUnconfirmedGauges holds a
// generation the way jobs does and reads it here.
const errorCodeSubmitUnconfirmed = "submit_unconfirmed"

// submissionAccounting is what the gauges tell of submissions that fal may
// have accepted, and so may bill, without Easel ever learning its answer
// (docs/RELIABILITY.md, guarantee 3), over the unfinished generations.
type submissionAccounting struct {
	// unconfirmed is the sum of fal_submissions - fal_submissions_confirmed:
	// lost answers, and submits under way (one each, for the call's length).
	unconfirmed int64
	// resubmitted counts the generations with more than one counted
	// submission (fal_submissions > 1): each was submitted again after an
	// answer was lost, and may be billed once per submission. A submit
	// under way adds to it only when it is such a second submission.
	resubmitted int64
	// held counts the queued generations held back as submit_unconfirmed.
	held int64
}

// readSubmissionAccounting reads submissionAccounting in one query on
// unfinished rows only, through a partial index: its predicate is
// generations_inflight_idx's (a row without a counted submission has
// nothing unconfirmed, and a held one has at least one), and the planner
// reads that index or generations_pending_client_idx, whatever the history
// holds (0.7 ms beside 300k finished rows and 5k queued ones). Finished
// generations are left out, the many rows no index serves: a generation
// that finishes stops counting, its submissions still in fal_submissions
// and fal_submissions_confirmed for the SQL in docs/RELIABILITY.md.
func readSubmissionAccounting(ctx context.Context, db store.DBTX) (submissionAccounting, error) {
	var a submissionAccounting
	err := db.QueryRow(ctx, `
		SELECT
			coalesce(sum(fal_submissions - fal_submissions_confirmed), 0),
			count(*) FILTER (WHERE fal_submissions > 1),
			count(*) FILTER (WHERE status = 'queued' AND error_code = $1)
		FROM generations
		WHERE finished_at IS NULL AND fal_submissions > 0`, errorCodeSubmitUnconfirmed).
		Scan(&a.unconfirmed, &a.resubmitted, &a.held)
	if err != nil {
		return submissionAccounting{}, fmt.Errorf("read unconfirmed submissions: %w", err)
	}
	return a, nil
}
