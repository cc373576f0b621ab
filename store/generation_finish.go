package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// GenerationFinishedChannel is the Postgres notification channel on which
// Easel announces generations reaching a terminal state: the code that
// finishes them publishes their ids once its transaction has committed,
// several to a notification, comma-separated (notify.Publisher). An
// announcement is a wake-up, not a record: a process that dies between the
// commit and the send never sends it, so listeners must also look again
// now and then.
const GenerationFinishedChannel = "easel_generation_finished"

// Completion is the outcome of a successful fal request.
type Completion struct {
	FalRequestID     string
	Images           []Image
	InferenceSeconds *float64
	Timings          json.RawMessage
}

// Finish is how a result finishes a generation: completed with Completion
// when it is not nil, else failed with ErrorCode and ErrorMessage.
type Finish struct {
	Completion   *Completion
	ErrorCode    string
	ErrorMessage string
}

// completedSet completes a generation with $3 to $6 of completionArgs. It
// leaves fal_request_id ($2) to the statement, because the webhook's
// statement also notes the delivery's request (see WebhookTx.Record).
const completedSet = `status = 'completed', completed_at = now(), finished_at = now(), updated_at = now(),
	has_nsfw = $3, nsfw_image_count = $7, image_count = $4, inference_seconds = $5, timings = $6,
	error_code = NULL, error_message = NULL`

// completionArgs are $1 to $7 of a statement that completes generation id
// with c using completedSet: $2 is the request that produced c.
func completionArgs(id uuid.UUID, c *Completion) []any {
	hasNSFW, nsfwImages := c.nsfwSummary()
	timings := c.Timings
	if len(timings) == 0 {
		timings = nil
	}
	return []any{id, c.FalRequestID, hasNSFW, len(c.Images), c.InferenceSeconds, timings, nsfwImages}
}

// nsfwSummary returns has_nsfw and nsfw_image_count for c's images, each
// nil when unknown, so that an unknown flag is never counted as clean:
// has_nsfw is true when any image is flagged, false when every flag is
// known and none is set, and unknown otherwise; nsfw_image_count is
// unknown as soon as one flag is. Sums and averages over the known values
// are then exact.
func (c *Completion) nsfwSummary() (hasNSFW *bool, nsfwImages *int) {
	flagged, unknown := 0, 0
	for _, im := range c.Images {
		switch {
		case im.NSFW == nil:
			unknown++
		case *im.NSFW:
			flagged++
		}
	}
	if flagged > 0 || unknown == 0 {
		has := flagged > 0
		hasNSFW = &has
	}
	if unknown == 0 {
		nsfwImages = &flagged
	}
	return hasNSFW, nsfwImages
}

// insertImages inserts images for generation $1 in one statement: columns
// as arrays, unnested server-side; a NULL flag is unknown. imageArgs gives
// its arguments.
const insertImages = `
	INSERT INTO generation_images (generation_id, position, url, content_type, file_name, file_size, width, height, nsfw)
	SELECT $1, u.position, u.url, NULLIF(u.content_type, ''), NULLIF(u.file_name, ''),
		NULLIF(u.file_size, 0), NULLIF(u.width, 0), NULLIF(u.height, 0), u.nsfw
	FROM unnest($2::smallint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::int[], $8::int[], $9::bool[])
		AS u(position, url, content_type, file_name, file_size, width, height, nsfw)`

func imageArgs(id uuid.UUID, images []Image) []any {
	n := len(images)
	positions, urls, types, names := make([]int32, n), make([]string, n), make([]string, n), make([]string, n)
	sizes, widths, heights, nsfw := make([]int64, n), make([]int32, n), make([]int32, n), make([]*bool, n)
	for i, im := range images {
		positions[i], urls[i], types[i], names[i] = int32(im.Position), im.URL, im.ContentType, im.FileName
		sizes[i], widths[i], heights[i], nsfw[i] = im.FileSize, int32(im.Width), int32(im.Height), im.NSFW
	}
	return []any{id, positions, urls, types, names, sizes, widths, heights, nsfw}
}

// Complete moves an unfinished generation to completed with fal's result
// and inserts its images; fal's status of the request is then COMPLETED.
// It reports false, changing nothing, when the generation is already
// terminal. Call it inside a transaction so the images and the status
// commit together.
func Complete(ctx context.Context, tx pgx.Tx, id uuid.UUID, c Completion) (bool, error) {
	tag, err := tx.Exec(ctx, `
		UPDATE generations SET `+completedSet+`, `+falStatusCompletedSet+`,
			fal_request_id = coalesce(NULLIF($2, ''), fal_request_id)
		WHERE id = $1 AND finished_at IS NULL`,
		completionArgs(id, &c)...)
	if err != nil {
		return false, fmt.Errorf("complete generation %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	if len(c.Images) == 0 {
		return true, nil
	}
	if _, err := tx.Exec(ctx, insertImages, imageArgs(id, c.Images)...); err != nil {
		return false, fmt.Errorf("insert images of generation %s: %w", id, err)
	}
	return true, nil
}

// Fail moves an unfinished generation to failed with an error code and
// message. It reports false, changing nothing, when the generation is
// already terminal.
func Fail(ctx context.Context, db DBTX, id uuid.UUID, code, message string) (bool, error) {
	return finish(ctx, db, id, StatusFailed, code, message, "", "")
}

// FailWithResult is Fail for a generation that fal's result failed (fal's
// error, or an output Easel could not read): fal completed the request,
// so its status is recorded as COMPLETED, as Complete records it.
func FailWithResult(ctx context.Context, db DBTX, id uuid.UUID, code, message string) (bool, error) {
	return finish(ctx, db, id, StatusFailed, code, message, ", "+falStatusCompletedSet, "")
}

// FailUnsubmitted fails generation id as Fail does, but only while it
// counts no submission. A counted one may be running at fal, and billed:
// its webhook, or else the reconciler's timeout, settles the generation and
// says that it may have been billed. It reports false, changing nothing,
// when the generation has finished or counts a submission.
func FailUnsubmitted(ctx context.Context, db DBTX, id uuid.UUID, code, message string) (bool, error) {
	return finish(ctx, db, id, StatusFailed, code, message, "", " AND fal_submissions = 0")
}

// Cancel moves an unfinished generation to cancelled. It reports false,
// changing nothing, when the generation is already terminal.
//
// It only records the cancellation. A submitted generation's request keeps
// running at fal, which bills it, and its result is then stored as a late
// webhook event; a queued one's River job stays, and finds nothing to
// submit. jobs.Canceller cancels at fal and in River, and calls this, or
// CancelAtFal once fal has cancelled the request.
func Cancel(ctx context.Context, db DBTX, id uuid.UUID, message string) (bool, error) {
	return finish(ctx, db, id, StatusCancelled, ErrorCodeCancelled, message, "", "")
}

// CancelAtFal is Cancel for a generation whose request, requestID, Easel
// has just cancelled at fal, with seen, what fal said of the request's
// status just before (FalStatus; the zero value when fal could not be
// asked), recorded in the same statement provided the generation still
// records requestID: IN_PROGRESS says fal was running it, and may bill it;
// IN_QUEUE that it had not started.
func CancelAtFal(ctx context.Context, db DBTX, id uuid.UUID, requestID, message string, seen FalStatus) (bool, error) {
	status, position := seen.args()
	tag, err := db.Exec(ctx, `
		UPDATE generations SET `+finishedSet+`,
			`+falStatusSeenSet("$6", "$7", "fal_request_id = $5")+`
		WHERE id = $1 AND finished_at IS NULL`, id, StatusCancelled, ErrorCodeCancelled, message, requestID, status, position)
	if err != nil {
		return false, fmt.Errorf("mark generation %s %s: %w", id, StatusCancelled, err)
	}
	return tag.RowsAffected() == 1, nil
}

// finishedSet ends a generation in status $2 with error code $3 and message
// $4.
const finishedSet = `status = $2, finished_at = now(), updated_at = now(), error_code = $3, error_message = $4`

// finish ends unfinished generation id; set, a constant, sets more columns
// (", col = ..."); and, a constant, narrows which.
func finish(ctx context.Context, db DBTX, id uuid.UUID, status Status, code, message, set, and string) (bool, error) {
	tag, err := db.Exec(ctx, `
		UPDATE generations SET `+finishedSet+set+`
		WHERE id = $1 AND finished_at IS NULL`+and, id, status, code, message)
	if err != nil {
		return false, fmt.Errorf("mark generation %s %s: %w", id, status, err)
	}
	return tag.RowsAffected() == 1, nil
}

// noteWebhook stamps generation $1's last_webhook_at and records fal
// request $2 when the generation records none: the webhook beat the submit
// call's own record of it. WebhookTx.Record runs it for a noted delivery
// that does not finish the generation.
const noteWebhook = `
	UPDATE generations SET last_webhook_at = now(),
		fal_request_id = coalesce(fal_request_id, NULLIF($2, ''))
	WHERE id = $1`
