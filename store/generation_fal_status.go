package store

import (
	"context"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// maxFalStatusBytes bounds the status string kept from fal's answer. fal's
// statuses are a few capitals; a longer one is not fal's protocol, and is
// kept only as far as it helps to recognise it.
const maxFalStatusBytes = 64

// falStatusInQueue is fal's status of a request waiting for a runner, the
// only one that comes with a queue position.
const falStatusInQueue = "IN_QUEUE"

// FalStatus is what fal said about a request's status: Status as fal
// spells it (IN_QUEUE, IN_PROGRESS, COMPLETED), and with IN_QUEUE the
// position fal gave (requests ahead of it; nil: none). The zero value says
// nothing, and a statement given it records nothing.
type FalStatus struct {
	Status        string
	QueuePosition *int
}

// args returns s as the row keeps it: the status made storable
// (falStatusText), or nil for none, and the position only with IN_QUEUE
// and only when it fits an integer column, else nil.
func (s FalStatus) args() (status *string, position *int32) {
	if s.Status == "" {
		return nil, nil
	}
	text := falStatusText(s.Status)
	if text == falStatusInQueue && s.QueuePosition != nil && *s.QueuePosition >= 0 && *s.QueuePosition <= math.MaxInt32 {
		p := int32(*s.QueuePosition)
		position = &p
	}
	return &text, position
}

// falStatusSeenSet records on the row, stamped now, the status $status
// (text, NULL: none) and position $position (integer) that FalStatus.args
// gave, when there is one, and provided cond (SQL) holds; otherwise the
// row keeps what it had.
func falStatusSeenSet(status, position, cond string) string {
	seen := status + `::text IS NOT NULL AND (` + cond + `)`
	return `fal_status = CASE WHEN ` + seen + ` THEN ` + status + `::text ELSE fal_status END,
		fal_queue_position = CASE WHEN ` + seen + ` THEN ` + position + `::integer ELSE fal_queue_position END,
		fal_status_at = CASE WHEN ` + seen + ` THEN now() ELSE fal_status_at END`
}

// falStatusCompletedSet records that fal completed the request whose result
// finishes the generation in the same statement: fal's status is then
// COMPLETED, whatever the poll last saw, and it has no queue position.
const falStatusCompletedSet = `fal_status = 'COMPLETED', fal_queue_position = NULL, fal_status_at = now()`

// RecordFalStatus notes on unfinished generation id what fal answered to
// the reconciler's status poll about requestID: status as fal spells it
// (IN_QUEUE, IN_PROGRESS, or COMPLETED when the result could not be
// fetched), and with IN_QUEUE the position fal gave (nil: none), stamped
// fal_status_at. It writes only while the generation still records
// requestID: an answer about a request the generation no longer records,
// or one that arrives after the generation finished, changes nothing, so a
// slow answer never overwrites a newer state. It reports whether it wrote.
//
// The other writers of these columns are the statements that change the
// row anyway: the record of fal's answer to the submit (IN_QUEUE and its
// position, RecordSubmitted), the finish by fal's result (COMPLETED:
// Complete, FailWithResult, and the webhook's WebhookTx.Record), and the
// finish by Easel's cancel, with what fal said just before it was sent
// (CancelAtFal, FailTimedOut). A finish by a cancel's client_cancelled
// result, or by anything else, leaves them alone: the last status from fal
// is then history (what fal said before the end), not a claim about now.
// Only a result of another request, which becomes the generation's (a
// webhook's, or TakeResultRequest's), clears them first, as they were
// about the request it replaces.
// updated_at is bumped, as by any change to the row, so that the gallery's
// page of the generation shows it.
func RecordFalStatus(ctx context.Context, db DBTX, id uuid.UUID, requestID, status string, queuePosition *int) (bool, error) {
	text, position := FalStatus{Status: status, QueuePosition: queuePosition}.args()
	if text == nil {
		return false, nil // fal's client never returns a status without one
	}
	tag, err := db.Exec(ctx, `
		UPDATE generations SET fal_status = $3, fal_queue_position = $4, fal_status_at = now(), updated_at = now()
		WHERE id = $1 AND finished_at IS NULL AND fal_request_id = $2`,
		id, requestID, text, position)
	if err != nil {
		return false, fmt.Errorf("record fal's status of request %s of generation %s: %w", requestID, id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// falStatusText is status as Postgres can store it: valid UTF-8 without
// NUL, at most maxFalStatusBytes, cut at a character boundary. A status
// fal sent garbled must not fail the reconciler's run.
func falStatusText(status string) string {
	status = strings.ReplaceAll(strings.ToValidUTF8(status, "\uFFFD"), "\x00", "\uFFFD")
	if len(status) <= maxFalStatusBytes {
		return status
	}
	cut := maxFalStatusBytes
	for cut > 0 && !utf8.RuneStart(status[cut]) {
		cut--
	}
	return status[:cut]
}
