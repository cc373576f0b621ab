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

// RecordFalStatus notes on unfinished generation id what fal answered to
// the reconciler's status poll about requestID: status as fal spells it
// (IN_QUEUE, IN_PROGRESS, or COMPLETED when the result could not be
// fetched), and with IN_QUEUE the position fal gave (nil: none), stamped
// fal_status_at. It writes only while the generation still records
// requestID: an answer about a request the generation no longer records,
// or one that arrives after the generation finished, changes nothing, so a
// slow answer never overwrites a newer state. It reports whether it wrote.
//
// The finishing paths leave these columns alone: a finished generation's
// last status from fal is history (what fal said before the end, as a
// timed out one still IN_QUEUE shows), not a claim about now; only a
// result of another request, which becomes the generation's (a webhook's,
// or TakeResultRequest's), clears them, as they were about the request it
// replaces.
// updated_at is bumped, as by any change to the row, so that the gallery's
// page of the generation shows it.
func RecordFalStatus(ctx context.Context, db DBTX, id uuid.UUID, requestID, status string, queuePosition *int) (bool, error) {
	status = falStatusText(status)
	var position *int32
	if status == falStatusInQueue && queuePosition != nil && *queuePosition >= 0 && *queuePosition <= math.MaxInt32 {
		p := int32(*queuePosition)
		position = &p
	}
	tag, err := db.Exec(ctx, `
		UPDATE generations SET fal_status = $3, fal_queue_position = $4, fal_status_at = now(), updated_at = now()
		WHERE id = $1 AND finished_at IS NULL AND fal_request_id = $2`,
		id, requestID, status, position)
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
