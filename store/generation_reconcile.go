package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ClaimPolls returns up to limit submitted generations that fal should be
// asked about, stamping their last_polled_at so that the next claim, in this
// or any process, skips them for pollAfter: those with no webhook pollAfter
// after submission, and at once those with a webhook noted since they were
// last polled. A noted webhook left a submitted generation unfinished only
// when it could not be applied (a payload_error or client_cancelled
// delivery, deferred, or a malformed one), so its result must be fetched,
// however recently fal was last asked. Least recently polled come first.
func ClaimPolls(ctx context.Context, db DBTX, pollAfter time.Duration, limit int) ([]*Generation, error) {
	rows, err := db.Query(ctx, `
		UPDATE generations SET last_polled_at = now()
		WHERE id IN (
			SELECT id FROM generations
			WHERE status = 'submitted' AND (
				last_webhook_at > coalesce(last_polled_at, '-infinity')
				OR ((last_webhook_at IS NOT NULL OR submitted_at < now() - $1::interval)
					AND (last_polled_at IS NULL OR last_polled_at < now() - $1::interval)))
			ORDER BY coalesce(last_polled_at, submitted_at)
			LIMIT $2
			FOR UPDATE SKIP LOCKED)
		RETURNING `+generationColumns, pollAfter, limit)
	if err != nil {
		return nil, fmt.Errorf("claim generations to poll: %w", err)
	}
	gens, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Generation, error) { return scanGeneration(row) })
	if err != nil {
		return nil, fmt.Errorf("claim generations to poll: %w", err)
	}
	return gens, nil
}

// UnclaimPolls undoes ClaimPolls's stamp on ids, claimed by a reconciler
// run that ended before it asked fal about them, so that the next run asks
// instead of waiting pollAfter. The claim overwrote the previous stamp, so
// last_polled_at is set back to pollAfter ago: the latest time that leaves a
// generation due, and still more recent than the stamps of those due for
// longer, which go first. Only stamps of the last pollAfter are touched, and
// only on submitted generations: at worst a stamp another claim has just
// made is undone too, and that generation is asked about twice, which
// applying a result once tolerates. It returns how many it unclaimed.
func UnclaimPolls(ctx context.Context, db DBTX, ids []uuid.UUID, pollAfter time.Duration) (int64, error) {
	tag, err := db.Exec(ctx, `
		UPDATE generations SET last_polled_at = now() - $2::interval
		WHERE id = ANY($1::uuid[]) AND status = 'submitted' AND last_polled_at > now() - $2::interval`,
		ids, pollAfter)
	if err != nil {
		return 0, fmt.Errorf("unclaim %d generations the reconciler did not poll: %w", len(ids), err)
	}
	return tag.RowsAffected(), nil
}

// ListTimedOut returns up to limit generations in flight whose first
// submission started more than timeout ago, those fal was asked about least
// recently first (or, never asked, whose latest submission started first).
// A timed out generation that stays unfinished after the reconciler asked
// about it (RecordResultError) thus goes behind the others, and a batch of
// such generations cannot keep newer ones from ever timing out.
//
// The timeout counts from the first submission so that a generation
// submitted again, after answers that never came, is not given
// EASEL_TIMEOUT afresh each time. The in-flight rows are few, and all in
// the partial index generations_inflight_idx, whose predicate this
// repeats.
func ListTimedOut(ctx context.Context, db DBTX, timeout time.Duration, limit int) ([]*Generation, error) {
	// least(): first_submitting_at is never later than submitting_at, and
	// is null on a row a binary older than migration 000019 submitted.
	rows, err := db.Query(ctx, `
		SELECT `+generationColumns+` FROM generations
		WHERE finished_at IS NULL AND fal_submissions > 0
			AND least(first_submitting_at, submitting_at) < now() - $1::interval
		ORDER BY greatest(submitting_at, last_polled_at), id
		LIMIT $2`, timeout, limit)
	if err != nil {
		return nil, fmt.Errorf("list timed out generations: %w", err)
	}
	gens, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Generation, error) { return scanGeneration(row) })
	if err != nil {
		return nil, fmt.Errorf("list timed out generations: %w", err)
	}
	return gens, nil
}

// PrepareTimeout returns timed out generation id as it now is, locked
// until the statement ends so that an answer being recorded is waited
// for, or nil when it has finished. When it records a fal request, the
// cancel that the reconciler is about to send is written first
// (fal_request_cancels, reason timeout, its attempt stamped): should the
// run end before the generation is failed (FailTimedOut), the
// client_cancelled result fal then holds for the request is known to be
// the timeout's (TimeoutCancelRequested), and a cancel that fal never
// answered is sent again once the generation has finished
// (ClaimFalCancels). A cancel of the request already answered is left as
// it is: fal's answer stands.
func PrepareTimeout(ctx context.Context, db DBTX, id uuid.UUID) (*Generation, error) {
	g, err := scanGeneration(db.QueryRow(ctx, `
		WITH g AS (
			SELECT `+generationColumns+` FROM generations
			WHERE id = $1 AND finished_at IS NULL
			FOR UPDATE),
		marked AS (
			INSERT INTO fal_request_cancels AS c (generation_id, fal_request_id, cancel_url, reason, attempts, attempted_at)
			SELECT id, fal_request_id, fal_cancel_url, $2::text, 1, now() FROM g WHERE fal_request_id IS NOT NULL
			ON CONFLICT (generation_id, fal_request_id)
				DO UPDATE SET reason = $2, attempts = c.attempts + 1, attempted_at = now()
				WHERE c.answered_at IS NULL)
		SELECT * FROM g`, id, FalCancelTimeout))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("prepare the timeout of generation %s: %w", id, err)
	}
	return g, nil
}

// FailTimedOut fails generation id with code and message, as Fail does,
// provided it still records requestID (nil: none), the request that
// PrepareTimeout returned and the reconciler cancelled; it reports false,
// changing nothing, when it has finished or records another request, which
// must be cancelled in turn. In the same statement, whether it failed the
// generation or not, the cancel's row is given cancelAnswer, fal's answer
// or FalCancelRefused (see FalCancelAnswered), with cancelErr as its last
// error, and kept; or, with no cancelAnswer, cancelErr is noted on it, the
// cancel to be sent again (ClaimFalCancels). FalCancelGaveUp or
// FalCancelPending as cancelAnswer is an error naming it, and nothing is
// changed. seen, what fal said of the request's status just before the
// cancel was sent (the zero value: fal could not be asked), is recorded on
// the generation it fails (fal_status, fal_queue_position, fal_status_at):
// IN_PROGRESS says fal was running it, and may bill it, IN_QUEUE that it
// had not started.
func FailTimedOut(ctx context.Context, db DBTX, id uuid.UUID, requestID *string, code, message string,
	cancelAnswer FalCancelAnswer, cancelErr string, seen FalStatus,
) (bool, error) {
	if cancelAnswer != "" {
		if err := checkFalCancelAnswer(cancelAnswer); err != nil {
			return false, fmt.Errorf("fail timed out generation %s: cancel %w", id, err)
		}
	}
	var failed bool
	status, position := seen.args()
	err := db.QueryRow(ctx, `
		WITH failed AS (
			UPDATE generations SET `+finishedSet+`, `+falStatusSeenSet("$8", "$9", "true")+`
			WHERE id = $1 AND finished_at IS NULL AND fal_request_id IS NOT DISTINCT FROM $5::text
			RETURNING id),
		answered AS (
			UPDATE fal_request_cancels SET `+answeredSet("$7", "$6")+`
			WHERE $7 <> '' AND generation_id = $1 AND fal_request_id = $5::text AND answered_at IS NULL),
		noted AS (
			UPDATE fal_request_cancels SET last_error = $6
			WHERE $7 = '' AND $6 <> '' AND generation_id = $1 AND fal_request_id = $5::text AND answered_at IS NULL)
		SELECT EXISTS (SELECT 1 FROM failed)`,
		id, StatusFailed, code, message, requestID, cancelErr, cancelAnswer, status, position).Scan(&failed)
	if err != nil {
		return false, fmt.Errorf("fail timed out generation %s: %w", id, err)
	}
	return failed, nil
}

// RecordResultError notes on an unfinished generation why the result of its
// request, which fal reports finished, could not be fetched, without
// changing its status, and stamps last_polled_at, since fal was just asked
// about it: the row says what the reconciler is waiting for, ClaimPolls does
// not ask again within its pollAfter, and ListTimedOut puts it behind those
// asked about less recently.
func RecordResultError(ctx context.Context, db DBTX, id uuid.UUID, code, message string) error {
	_, err := db.Exec(ctx, `
		UPDATE generations SET error_code = $2, error_message = $3, last_polled_at = now(), updated_at = now()
		WHERE id = $1 AND finished_at IS NULL`, id, code, message)
	if err != nil {
		return fmt.Errorf("record result error of generation %s: %w", id, err)
	}
	return nil
}

// FailSubmittedBefore is Fail for a generation whose latest submission
// started more than age ago, by the database's clock, which stamped it. It
// reports false, changing nothing, for a generation that is finished or
// whose submission is more recent.
func FailSubmittedBefore(ctx context.Context, db DBTX, id uuid.UUID, age time.Duration, code, message string) (bool, error) {
	tag, err := db.Exec(ctx, `
		UPDATE generations SET `+finishedSet+`
		WHERE id = $1 AND finished_at IS NULL AND submitting_at < now() - $5::interval`,
		id, StatusFailed, code, message, age)
	if err != nil {
		return false, fmt.Errorf("fail generation %s submitted more than %s ago: %w", id, age, err)
	}
	return tag.RowsAffected() == 1, nil
}
