package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// markSubmittingSet counts an attempt and a submission fal may accept, and
// stamps submitting_at, and first_submitting_at when no other submission is
// counted: what every path that is about to call fal writes. EASEL_TIMEOUT
// counts from the first submission (ListTimedOut), so that submitting again
// cannot put the timeout off; but only from one that stayed counted: an
// attempt fal refused (RecordSubmitRefused) started nothing at fal, and an
// outage longer than EASEL_TIMEOUT must not time out the request fal accepts
// after it. The CASE also restamps a row whose refused attempts an older
// binary left stamped.
const markSubmittingSet = `submitting_at = now(),
	first_submitting_at = CASE WHEN fal_submissions = 0 THEN now() ELSE coalesce(first_submitting_at, now()) END,
	attempts = attempts + 1, fal_submissions = fal_submissions + 1, updated_at = now()`

// MarkSubmitting records that a submission to fal is about to start, before
// fal is called: it counts the attempt and the submission (fal_submissions
// counts every request fal may have accepted, so a process that dies after
// fal's answer and before RecordSubmitted has still counted it) and stamps
// submitting_at. It returns ErrNotFound unless the generation exists and is
// still queued (a webhook may already have finished it, or it was
// cancelled). ReserveSubmission is MarkSubmitting under FAL_MAX_INFLIGHT.
func MarkSubmitting(ctx context.Context, db DBTX, id uuid.UUID) (*Generation, error) {
	g, err := scanGeneration(db.QueryRow(ctx, `
		UPDATE generations SET `+markSubmittingSet+`
		WHERE id = $1 AND status = 'queued'
		RETURNING `+generationColumns, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("queued generation %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("mark generation %s submitting: %w", id, err)
	}
	return g, nil
}

// Submission is what fal answered to a submit.
type Submission struct {
	RequestID        string
	GatewayRequestID string
	StatusURL        string
	ResponseURL      string
	CancelURL        string
	// FalStatus is the request's status as fal gave it with the answer:
	// for a submit, IN_QUEUE and the queue position fal reported, so that
	// a generation waiting in fal's queue says so (and how far back) from
	// the start, not only once the reconciler asks EASEL_POLL_AFTER later.
	// The zero value records none.
	FalStatus FalStatus
}

// RecordSubmitted stores fal's answer to the submission MarkSubmitting
// counted: fal's ids and URLs, a confirmed submission, and the move from
// queued to submitted. A generation that already reached a terminal state (a
// webhook beat this call, or it was cancelled meanwhile) keeps that state,
// the request, ids and URLs it finished with, and its submitted_at, NULL:
// when fal accepted the request is unknown, and the answer's arrival is
// later than the finish. The submission is confirmed all the same. The
// caller compares the returned FalRequestID with s.RequestID to tell
// whether s is a request nobody needs. It returns the generation as it now
// is. An unfinished generation also takes s.FalStatus as fal's status of
// its request (fal_status, fal_queue_position, fal_status_at), in the same
// statement; a finished one keeps what it had, as it keeps its request.
//
// It is idempotent: once a submission of the generation is confirmed, it
// changes nothing and returns the generation as it is. The caller retries
// it when the database errs, and a connection that breaks after the COMMIT
// loses only the answer: counting the same answer twice would make
// fal_submissions_confirmed 2 and hide a paid request among the confirmed
// ones. Any other answer recorded after a confirmed one is a request the
// generation does not need (only a queued generation is submitted, and a
// confirmed one is no longer queued): it stays an unconfirmed submission,
// and the returned FalRequestID, not s's, tells the caller to cancel it.
// A request the row recorded unconfirmed, which s replaces, is written
// down to be cancelled (see RecordSubmittedReplacing, which also returns it).
func RecordSubmitted(ctx context.Context, db DBTX, id uuid.UUID, s Submission) (*Generation, error) {
	g, _, err := RecordSubmittedReplacing(ctx, db, id, s)
	return g, err
}

// RecordSubmittedReplacing is RecordSubmitted, also returning the request
// s replaced, or "": one that a signed webhook (a payload_error one, whose
// result is fetched later) or fal's error answer to a submit named for the
// generation while it was queued (WebhookWrite.Noted,
// RecordSubmitErrorNamingRequest), recorded on the row but never
// confirmed. That request may have run at fal, and billed, and may hold
// the generation's result: it is not dropped but written down, in the same
// statement, as a superseded request to cancel (fal_request_cancels), as
// TakeResultRequest writes down the request a result supersedes, so that a
// process dying right after still leaves it named. The cancel stays
// pending while the generation is unfinished (ClaimFalCancels), so the
// caller can first ask fal about the request and apply its result, which
// takes the cancel back. Nothing is announced on FalCancelQueuedChannel:
// nothing claims it before the generation finishes.
func RecordSubmittedReplacing(ctx context.Context, db DBTX, id uuid.UUID, s Submission) (*Generation, string, error) {
	// A finished generation's request is the one it finished with, and its
	// ids and URLs must stay that request's; one that ended without a
	// request (it was cancelled during the call) takes this one, so that
	// its late result can still be found. Stamping its submitted_at now,
	// after its finish, would make generation_history's fal_seconds
	// negative. prior locks the row and reads the request it records as it
	// is now (FOR UPDATE reads the latest version), which the UPDATE's
	// RETURNING could not: it returns new values only.
	var replaced *string
	g, err := scanGeneration(replacedScanner{db.QueryRow(ctx, recordSubmittedSQL, submissionArgs(id, s)...), &replaced})
	if errors.Is(err, pgx.ErrNoRows) {
		// Confirmed already (this answer, recorded by a try whose reply
		// was lost, or another), or no such generation. A request that
		// lost try replaced is in fal_request_cancels.
		g, err = GetGeneration(ctx, db, id)
		if err != nil {
			return nil, "", fmt.Errorf("record submission of generation %s: %w", id, err)
		}
		return g, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("record submission of generation %s: %w", id, err)
	}
	if replaced == nil {
		return g, "", nil
	}
	return g, *replaced, nil
}

// recordSubmittedSQL is RecordSubmittedReplacing's statement, assembled
// once: it is on the hot path of every submission, and building it at each
// call would cost an allocation of its whole text.
var recordSubmittedSQL = `
	WITH prior AS (
		SELECT id AS prior_id, fal_request_id AS prior_request_id FROM generations
		WHERE id = $1 AND fal_submissions_confirmed = 0
		FOR UPDATE),
	recorded AS (
		UPDATE generations SET
			status = CASE WHEN status = 'queued' THEN 'submitted' ELSE status END,
			fal_request_id = CASE WHEN finished_at IS NULL OR fal_request_id IS NULL THEN $2 ELSE fal_request_id END,
			fal_gateway_request_id = CASE WHEN finished_at IS NULL OR coalesce(fal_request_id, $2) = $2 THEN NULLIF($3, '') ELSE fal_gateway_request_id END,
			fal_status_url = CASE WHEN finished_at IS NULL OR coalesce(fal_request_id, $2) = $2 THEN $4 ELSE fal_status_url END,
			fal_response_url = CASE WHEN finished_at IS NULL OR coalesce(fal_request_id, $2) = $2 THEN $5 ELSE fal_response_url END,
			fal_cancel_url = CASE WHEN finished_at IS NULL OR coalesce(fal_request_id, $2) = $2 THEN $6 ELSE fal_cancel_url END,
			submitted_at = CASE WHEN finished_at IS NULL THEN coalesce(submitted_at, now()) ELSE submitted_at END,
			fal_submissions_confirmed = fal_submissions_confirmed + 1,
			error_code = CASE WHEN finished_at IS NULL THEN NULL ELSE error_code END,
			error_message = CASE WHEN finished_at IS NULL THEN NULL ELSE error_message END,
			` + falStatusSeenSet("$7", "$8", "finished_at IS NULL") + `,
			updated_at = now()
		FROM prior
		WHERE id = prior_id AND fal_submissions_confirmed = 0
		RETURNING generations.*, CASE WHEN prior_request_id <> fal_request_id THEN prior_request_id END AS replaced),
	kept AS (
		INSERT INTO fal_request_cancels (generation_id, fal_request_id, reason)
		SELECT id, replaced, '` + string(FalCancelSuperseded) + `' FROM recorded WHERE replaced IS NOT NULL
		ON CONFLICT (generation_id, fal_request_id) DO NOTHING)
	SELECT ` + generationColumns + `, replaced FROM recorded`

// submissionArgs are $1 to $8 of RecordSubmittedReplacing's statement.
func submissionArgs(id uuid.UUID, s Submission) []any {
	status, position := s.FalStatus.args()
	return []any{id, s.RequestID, s.GatewayRequestID, s.StatusURL, s.ResponseURL, s.CancelURL, status, position}
}

// replacedScanner scans a generation's columns and then the request
// RecordSubmittedReplacing's statement returns after them.
type replacedScanner struct {
	row      scanner
	replaced **string
}

func (r replacedScanner) Scan(dest ...any) error {
	return r.row.Scan(append(dest, r.replaced)...)
}

// AdoptSubmission moves a queued generation to submitted with s, the
// request a signed webhook named (WebhookWrite.Noted) before any submit
// call could record fal's answer: the worker that made it died first.
// Adopt only a request that fal, asked with Easel's key, knows: a webhook
// may carry another account's request. Adopting it confirms one of the submissions
// MarkSubmitting counted. s.FalStatus, what fal answered when asked about
// the request, is recorded with it. It returns ErrNotFound, changing
// nothing, unless the generation is still queued with s.RequestID as its
// request.
func AdoptSubmission(ctx context.Context, db DBTX, id uuid.UUID, s Submission) (*Generation, error) {
	status, position := s.FalStatus.args()
	g, err := scanGeneration(db.QueryRow(ctx, `
		UPDATE generations SET
			status = 'submitted',
			fal_status_url = $3, fal_response_url = $4, fal_cancel_url = $5,
			`+falStatusSeenSet("$6", "$7", "true")+`,
			submitted_at = coalesce(submitted_at, now()),
			fal_submissions_confirmed = fal_submissions_confirmed + 1,
			error_code = NULL, error_message = NULL,
			updated_at = now()
		WHERE id = $1 AND status = 'queued' AND fal_request_id = $2
		RETURNING `+generationColumns,
		id, s.RequestID, s.StatusURL, s.ResponseURL, s.CancelURL, status, position))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("queued generation %s with fal request %s: %w", id, s.RequestID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("adopt fal request %s for generation %s: %w", s.RequestID, id, err)
	}
	return g, nil
}

// ForgetRequest clears the request a webhook named for a queued
// generation (WebhookWrite.Noted) when fal, asked with Easel's key, does
// not know it: it is another account's, and the generation goes on as if
// no webhook had come.
// It reports false, changing nothing, unless the generation is still queued
// with requestID as its request.
func ForgetRequest(ctx context.Context, db DBTX, id uuid.UUID, requestID string) (bool, error) {
	tag, err := db.Exec(ctx, `
		UPDATE generations SET fal_request_id = NULL, updated_at = now()
		WHERE id = $1 AND status = 'queued' AND fal_request_id = $2`, id, requestID)
	if err != nil {
		return false, fmt.Errorf("forget fal request %s of generation %s: %w", requestID, id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// RecordSubmitError notes the last submit error of a generation, without
// changing its status. Use it when fal may have accepted the request anyway
// (the connection broke after sending it): the submission stays counted.
func RecordSubmitError(ctx context.Context, db DBTX, id uuid.UUID, code, message string) error {
	_, err := db.Exec(ctx, `
		UPDATE generations SET error_code = $2, error_message = $3, updated_at = now()
		WHERE id = $1 AND finished_at IS NULL`, id, code, message)
	if err != nil {
		return fmt.Errorf("record submit error of generation %s: %w", id, err)
	}
	return nil
}

// RecordSubmitErrorNamingRequest is RecordSubmitError for an error answer
// that names fal's request (x-fal-request-id): the request may exist, and
// bill. A queued generation that records no request records it, as a
// noted webhook records one it named, so that the next run of its
// submit job asks fal about it and adopts it (AdoptSubmission) or forgets
// it (ForgetRequest) instead of paying for another. requestID "" records
// none. It returns the generation as it now is, and ErrNotFound when there
// is none.
//
// A generation that finished during the call (it was cancelled, or timed
// out) keeps its status, its error and its submitted_at, as RecordSubmitted
// leaves them, but one that records no request takes requestID, as
// RecordSubmitted gives it the request of an accepted submit: the caller
// is to cancel the request at fal, nobody needing it any more, and should
// it run all the same, its late result is known for the generation's.
func RecordSubmitErrorNamingRequest(ctx context.Context, db DBTX, id uuid.UUID, code, message, requestID string) (*Generation, error) {
	g, err := scanGeneration(db.QueryRow(ctx, `
		UPDATE generations SET
			error_code = CASE WHEN finished_at IS NULL THEN $2 ELSE error_code END,
			error_message = CASE WHEN finished_at IS NULL THEN $3 ELSE error_message END,
			fal_request_id = CASE WHEN status = 'queued' OR finished_at IS NOT NULL
				THEN coalesce(fal_request_id, NULLIF($4, '')) ELSE fal_request_id END,
			updated_at = now()
		WHERE id = $1 AND (finished_at IS NULL OR (fal_request_id IS NULL AND $4 <> ''))
		RETURNING `+generationColumns, id, code, message, requestID))
	if errors.Is(err, pgx.ErrNoRows) {
		// Finished with a request already, or with nothing named to
		// record, or no such generation.
		g, err = GetGeneration(ctx, db, id)
	}
	if err != nil {
		return nil, fmt.Errorf("record submit error of generation %s: %w", id, err)
	}
	return g, nil
}

// RecordSubmitRefused uncounts the submission MarkSubmitting counted when
// fal's answer proves that it queued nothing (an error status without a
// request id, or a connection never made), and notes the error as the last
// submit error of a generation still unfinished. The submission is
// uncounted even when the generation finished during the call (cancelled,
// timed out): fal_submissions counts what fal may bill, whatever became of
// the generation. When no submission stays counted, first_submitting_at is
// cleared with it, so that EASEL_TIMEOUT counts from the next submission fal
// may accept, not from the start of a refusal.
func RecordSubmitRefused(ctx context.Context, db DBTX, id uuid.UUID, code, message string) error {
	// A finished row's counters and first_submitting_at may change; its
	// status and finished_at, which this leaves, may not
	// (generations_terminal_never_changes).
	_, err := db.Exec(ctx, `
		UPDATE generations SET
			fal_submissions = greatest(fal_submissions - 1, fal_submissions_confirmed),
			first_submitting_at = CASE WHEN greatest(fal_submissions - 1, fal_submissions_confirmed) = 0
				THEN NULL ELSE first_submitting_at END,
			error_code = CASE WHEN finished_at IS NULL THEN $2 ELSE error_code END,
			error_message = CASE WHEN finished_at IS NULL THEN $3 ELSE error_message END,
			updated_at = now()
		WHERE id = $1`, id, code, message)
	if err != nil {
		return fmt.Errorf("record refused submit of generation %s: %w", id, err)
	}
	return nil
}

// Resubmission is what decides whether a queued generation with a counted
// submission whose answer was never recorded may be submitted again.
type Resubmission struct {
	// Unconfirmed is fal_submissions - fal_submissions_confirmed: the
	// submissions fal may have accepted, and may bill, whose answer Easel
	// never recorded.
	Unconfirmed int

	// Wait is what is left of the wait given to CheckResubmission since the
	// latest submission started, or 0 once it has passed.
	Wait time.Duration

	// Overdue reports that the first submission started more than the
	// timeout given to CheckResubmission ago.
	Overdue bool
}

// CheckResubmission returns what decides whether generation id may be
// submitted again: its unconfirmed submissions, what is left of wait since
// its latest submission started, and whether its first one started more
// than timeout ago. Times are the database's, whose clock stamped the
// submissions, so that a process whose clock is off waits neither longer
// nor shorter. It returns ErrNotFound when the generation does not exist.
func CheckResubmission(ctx context.Context, db DBTX, id uuid.UUID, wait, timeout time.Duration) (Resubmission, error) {
	var r Resubmission
	// least(): first_submitting_at is never later than submitting_at, and
	// is null on a row a binary older than migration 000019 submitted.
	err := db.QueryRow(ctx, `
		SELECT fal_submissions - fal_submissions_confirmed,
			greatest(coalesce(submitting_at + $2::interval - now(), interval '0'), interval '0'),
			coalesce(least(first_submitting_at, submitting_at) < now() - $3::interval, false)
		FROM generations WHERE id = $1`, id, wait, timeout).Scan(&r.Unconfirmed, &r.Wait, &r.Overdue)
	if errors.Is(err, pgx.ErrNoRows) {
		return Resubmission{}, fmt.Errorf("generation %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Resubmission{}, fmt.Errorf("check resubmission of generation %s: %w", id, err)
	}
	return r, nil
}
