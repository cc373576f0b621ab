package store

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// A result may finish a generation whose recorded request is another one:
// the result of an earlier submission, whose answer was lost, comes after
// the answer to a later one was recorded. The request whose result
// finished it becomes its request, and the one recorded until then, which
// nobody needs any more and which fal would run to completion and bill, is
// queued to be cancelled at fal (fal_request_cancels, reason superseded),
// in the same statement, which also says so on FalCancelQueuedChannel for
// worker processes to send the cancel at once (jobs.FalCancelSender). The
// notification is sent only when a cancel row is written (RETURNING runs
// per inserted row), so that an ordinary result, which supersedes nothing,
// takes no notification lock at its commit. The recorded gateway id and
// URLs, and fal's last reported status, were the other request's, so they
// are cleared: fal's URLs are derived from the endpoint and the request id
// wherever they are missing.

// resultRequestWith is the WITH clause of a statement that finishes
// generation $1 with the result of fal request param: it queues the
// cancel of the request the generation records, when that is another one,
// and forgets any pending cancel of param's own request, which has
// finished and becomes the generation's; an answered one is kept, as
// every answered cancel is. Its CTE superseded holds the other request,
// if any.
func resultRequestWith(param string) string {
	return `WITH superseded AS (
			SELECT id, fal_request_id, fal_cancel_url FROM generations
			WHERE id = $1 AND fal_request_id <> NULLIF(` + param + `, '')),
		queued AS (
			INSERT INTO fal_request_cancels (generation_id, fal_request_id, cancel_url, reason)
			SELECT id, fal_request_id, fal_cancel_url, '` + string(FalCancelSuperseded) + `' FROM superseded
			ON CONFLICT (generation_id, fal_request_id) DO NOTHING
			RETURNING pg_notify('` + FalCancelQueuedChannel + `', '` + string(FalCancelSuperseded) + `')),
		answered AS (
			DELETE FROM fal_request_cancels
			WHERE generation_id = $1 AND fal_request_id = NULLIF(` + param + `, '') AND answered_at IS NULL)
		`
}

// resultRequestSet makes fal request param the generation's request, as
// resultRequestWith's statement must: the ids and URLs of another request
// are cleared; those of the same request, or of a row that records none,
// are kept. In an UPDATE's SET every fal_request_id is still the old one.
// What fal last said about the request (RecordFalStatus) is left to the
// statement: one that finishes the generation with param's result records
// COMPLETED (falStatusCompletedSet); TakeResultRequest clears it when it
// was about another request (otherRequestStatusCleared).
func resultRequestSet(param string) string {
	other := otherRequest(param)
	return `fal_request_id = coalesce(NULLIF(` + param + `, ''), fal_request_id),
		fal_gateway_request_id = CASE WHEN ` + other + ` THEN NULL ELSE fal_gateway_request_id END,
		fal_status_url = CASE WHEN ` + other + ` THEN NULL ELSE fal_status_url END,
		fal_response_url = CASE WHEN ` + other + ` THEN NULL ELSE fal_response_url END,
		fal_cancel_url = CASE WHEN ` + other + ` THEN NULL ELSE fal_cancel_url END`
}

// otherRequestStatusCleared clears what fal last said about the request
// the generation records when param is another one.
func otherRequestStatusCleared(param string) string {
	other := otherRequest(param)
	return `fal_status = CASE WHEN ` + other + ` THEN NULL ELSE fal_status END,
		fal_queue_position = CASE WHEN ` + other + ` THEN NULL ELSE fal_queue_position END,
		fal_status_at = CASE WHEN ` + other + ` THEN NULL ELSE fal_status_at END`
}

// otherRequest is true, in an UPDATE's SET, of a row that records a
// request other than param.
func otherRequest(param string) string {
	return `fal_request_id <> NULLIF(` + param + `, '')`
}

// TakeResultRequest makes fal request requestID, whose result is about to
// finish generation id, the generation's request, as a webhook that
// finishes it does (WebhookTx.Record): the request it recorded until then,
// if another, is queued to be cancelled at fal (ClaimFalCancels) and its
// gateway id, URLs and last status from fal cleared. It returns that other
// request, or "". Call it in the transaction that locked the generation
// and finishes it with the result, before the statement that finishes it.
func TakeResultRequest(ctx context.Context, tx pgx.Tx, id uuid.UUID, requestID string) (string, error) {
	var superseded *string
	err := tx.QueryRow(ctx, resultRequestWith("$2")+`,
		taken AS (
			UPDATE generations SET `+resultRequestSet("$2")+`, `+otherRequestStatusCleared("$2")+`
			WHERE id = $1 AND fal_request_id IS DISTINCT FROM NULLIF($2, '') AND $2 <> '')
		SELECT (SELECT fal_request_id FROM superseded)`, id, requestID).Scan(&superseded)
	if err != nil {
		return "", fmt.Errorf("make fal request %s generation %s's: %w", requestID, id, err)
	}
	if superseded == nil {
		return "", nil
	}
	return *superseded, nil
}
