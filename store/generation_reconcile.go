package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ClaimPolls returns up to limit submitted generations that fal should be
// asked about, stamping their last_polled_at so that the next claim, in this
// or any process, skips them for pollAfter: those with no webhook pollAfter
// after submission, and at once those whose webhook could not be applied
// (a payload_error delivery, whose result must be fetched). Least recently
// polled come first.
func ClaimPolls(ctx context.Context, db DBTX, pollAfter time.Duration, limit int) ([]*Generation, error) {
	rows, err := db.Query(ctx, `
		UPDATE generations SET last_polled_at = now()
		WHERE id IN (
			SELECT id FROM generations
			WHERE status = 'submitted'
				AND (last_webhook_at IS NOT NULL OR submitted_at < now() - $1::interval)
				AND (last_polled_at IS NULL OR last_polled_at < now() - $1::interval)
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
