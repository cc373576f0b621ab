package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/metrics"
	"github.com/easelhq/easel/notify"
	"github.com/easelhq/easel/store"
)

// SubmitGenerationArgs submits one generation to fal.
type SubmitGenerationArgs struct {
	GenerationID uuid.UUID `json:"generation_id"`
}

// Kind is River's name for the job.
func (SubmitGenerationArgs) Kind() string { return "submit_generation" }

// InsertOpts bounds River's own retries, which only follow unexpected
// errors (the database unreachable) and dead processes: fal's errors are
// retried by snoozing, counted in the generation's attempts.
func (SubmitGenerationArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: submitMaxAttempts}
}

const (
	submitMaxAttempts = 15

	// inflightPoll is how often a worker at FAL_MAX_INFLIGHT looks for a
	// free slot, give or take half, for up to inflightWait before it
	// snoozes and lets River pick the next job by priority.
	inflightPoll = 200 * time.Millisecond
	inflightWait = 5 * time.Second

	// A generation whose client is at its own cap snoozes at once, so that
	// other clients' generations get the worker: first for about
	// clientCapSnooze, doubling with each snooze of its job up to
	// clientCapSnoozeMax, so that a client's backlog costs River little
	// however large it grows.
	clientCapSnooze    = time.Second
	clientCapSnoozeMax = time.Minute
)

// MaxUnconfirmedSubmissions is how many submissions of one generation fal
// may have accepted without Easel ever learning its answer (a worker that
// died mid-call, an answer slower than the job's timeout, a connection
// broken after sending) before it is no longer submitted again. Each may
// be billed. One lost answer is the failure Easel is built to survive, and
// a second, independent one (a crash, then a broken connection) can still
// happen by chance; a third in a row means the loss is systematic (fal
// answering slower than half of EASEL_RESCUE_AFTER, a proxy cutting
// answers), when each further submission would most likely be lost, and
// paid, the same way. Held back, the generation waits for the webhook of
// one of its submissions, or a request a webhook reveals, until the
// reconciler times it out EASEL_TIMEOUT after its first submission: at
// most 3 paid requests instead of one every EASEL_POLL_AFTER.
const MaxUnconfirmedSubmissions = 3

// SubmitGenerationWorker sends a queued generation to fal's queue with a
// webhook URL pointing back at Easel.
//
// Every run first reads what is known, with the generation locked:
// finished, submitted or cancelled generations are left alone; a request id
// revealed by a webhook (the run that submitted it died before recording
// fal's answer), or named by fal's error answer to a submit, is adopted
// rather than submitted again, once fal confirms that it is a request of
// Easel's account; a request fal accepted for an earlier run that could not
// record fal's answer (the database was down), named in the job's errors
// or remembered by the process, is recorded once fal confirms it knows it,
// however long ago it was made, and while fal cannot be asked nothing is
// submitted; and a submission whose outcome was never learnt gets
// PollAfter for its webhook before the generation is submitted again,
// unless MaxUnconfirmedSubmissions such submissions were made, or 20
// attempts, or EASEL_TIMEOUT has passed since the first: then it is held
// back, noted with store.ErrorCodeSubmitUnconfirmed, until a webhook or
// the reconciler finishes it. Only then is a slot of FAL_MAX_INFLIGHT
// reserved, the submission counted and fal called. A submission fal
// refuses in a way a later one may not (429, 5xx, no connection) is
// retried with backoff, the generation failing with the last refusal's
// code after 20 attempts, about an hour and a half.
// docs/RELIABILITY.md states the resulting guarantee.
type SubmitGenerationWorker struct {
	river.WorkerDefaults[SubmitGenerationArgs]

	pool       *pgxpool.Pool
	fal        Fal
	publicURL  string
	limits     store.InflightLimits
	pollAfter  time.Duration
	timeout    time.Duration
	jobTimeout time.Duration
	// recordTimeout bounds recording fal's answer once the call is over:
	// fal has accepted the request, so it is worth waiting for the database.
	recordTimeout time.Duration
	publisher     *notify.Publisher
	metrics       *metrics.Metrics
	logger        *slog.Logger
	// failures summarises the retried submit failures of the process, which
	// has one worker.
	failures *submitFailures
	// unrecorded holds the requests fal accepted whose answers this process
	// could not record, for the next run of their jobs: the job's errors
	// hold them too, but only once River can write them.
	unrecorded *unrecordedAnswers
}

// NewSubmitGenerationWorker returns a worker configured by cfg.
func NewSubmitGenerationWorker(pool *pgxpool.Pool, cfg Config) *SubmitGenerationWorker {
	cfg = cfg.withDefaults()
	return &SubmitGenerationWorker{
		pool:          pool,
		fal:           cfg.Fal,
		publicURL:     cfg.PublicURL,
		limits:        cfg.Limits,
		pollAfter:     cfg.PollAfter,
		timeout:       cfg.Timeout,
		jobTimeout:    cfg.jobTimeout(),
		recordTimeout: cfg.recordTimeout(),
		publisher:     cfg.publisher(pool),
		metrics:       cfg.Metrics,
		logger:        cfg.Logger,
		failures:      newSubmitFailures(),
		unrecorded:    newUnrecordedAnswers(unrecordedAnswersBound(cfg.MaxWorkers)),
	}
}

// webhookPath is where, under Config.PublicURL, the webhooks package
// receives fal's deliveries, each at the id of its generation.
const webhookPath = "/webhooks/fal/"

// webhookURL is where fal reports the outcome of generation id.
func webhookURL(publicURL string, id uuid.UUID) string {
	return publicURL + webhookPath + url.PathEscape(id.String())
}

// Timeout keeps each run well inside EASEL_RESCUE_AFTER.
func (w *SubmitGenerationWorker) Timeout(*river.Job[SubmitGenerationArgs]) time.Duration {
	return w.jobTimeout
}

func (w *SubmitGenerationWorker) Work(ctx context.Context, job *river.Job[SubmitGenerationArgs]) error {
	id := job.Args.GenerationID
	logger := w.logger.With("generation_id", id, "job_id", job.ID, "job_attempt", job.Attempt)

	gen, err := w.reserve(ctx, logger, job)
	if gen == nil || err != nil {
		if err != nil && !isSnooze(err) && ctx.Err() == nil && job.Attempt >= job.MaxAttempts {
			w.giveUp(ctx, logger, id, err)
		}
		return err
	}
	logger = logger.With("attempt", gen.Attempts)

	resp, err := w.fal.Submit(ctx, fal.SubmitRequest{
		EndpointID: gen.EndpointID,
		Input:      gen.Input,
		WebhookURL: webhookURL(w.publicURL, id),
	})
	if err != nil {
		return w.submitFailed(ctx, logger, gen, err)
	}
	// fal's answer to a submit is the request queued: IN_QUEUE, with how
	// many are ahead of it.
	return w.recordSubmitted(ctx, logger, id, resp, store.FalStatus{Status: fal.StatusInQueue, QueuePosition: resp.QueuePosition})
}

// reserve returns the generation once a submission is reserved for it, or
// nil when this run has nothing to submit. At FAL_MAX_INFLIGHT it waits for
// a slot for a while, then snoozes.
func (w *SubmitGenerationWorker) reserve(ctx context.Context, logger *slog.Logger, job *river.Job[SubmitGenerationArgs]) (*store.Generation, error) {
	deadline := time.Now().Add(min(inflightWait, w.jobTimeout/2))
	var (
		revealed   *revealedRequest
		unrecorded *unrecordedRequest
		// pending are the requests fal accepted for earlier runs whose
		// answers were never recorded, newest first, less those fal has
		// said, during this run, that it does not know.
		pending = w.unrecordedRequests(job)
	)
	for {
		gen, err := w.claim(ctx, logger, job.Args.GenerationID, pending)
		switch {
		case errors.As(err, &revealed):
			// Adopted, or else claimed again: forgotten, or changed
			// meanwhile.
			if adopted, err := w.confirmRevealed(ctx, logger, job.Args.GenerationID, revealed); adopted || err != nil {
				return nil, err
			}
		case errors.As(err, &unrecorded):
			// Recorded, or else claimed again without it: fal does not
			// know it.
			if recorded, err := w.confirmUnrecorded(ctx, logger, job.Args.GenerationID, unrecorded); recorded || err != nil {
				return nil, err
			}
			pending = slices.DeleteFunc(pending, func(r string) bool { return r == unrecorded.requestID })
		case errors.Is(err, store.ErrClientInflightLimit):
			return nil, river.JobSnooze(clientCapBackoff(job.Metadata))
		case errors.Is(err, store.ErrInflightLimit) && time.Now().After(deadline):
			return nil, river.JobSnooze(jitter(inflightPoll))
		case errors.Is(err, store.ErrInflightLimit):
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(jitter(inflightPoll)):
			}
		default:
			return gen, err
		}
	}
}

// claim decides, with the generation locked, what this run does, and
// reserves a submission when it is to submit. unrecorded are requests fal
// accepted for earlier runs whose answers were never recorded, newest
// first.
func (w *SubmitGenerationWorker) claim(ctx context.Context, logger *slog.Logger, id uuid.UUID, unrecorded []string) (*store.Generation, error) {
	if gen, err := store.ReserveFirstSubmission(ctx, w.pool, id, w.limits); gen != nil || err != nil {
		return gen, err
	}
	var (
		reserved *store.Generation
		// held is set for a generation held back, to snooze once the note
		// saying so has committed.
		held bool
	)
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		gen, err := store.LockGeneration(ctx, tx, id)
		if err != nil {
			return err
		}
		switch {
		case gen.Status != store.StatusQueued:
			// Submitted, finished by a webhook, or cancelled: submitting
			// again would pay twice.
			withFalRequest(logger, gen).Info("generation no longer queued; nothing to submit", "status", gen.Status)
			w.unrecorded.forget(id)
			return nil

		case gen.FalRequestID != nil:
			// A signed webhook named fal's request before any run recorded
			// fal's answer. It is adopted once fal confirms it, outside
			// this transaction: never call fal with the row locked.
			return &revealedRequest{endpointID: gen.EndpointID, requestID: *gen.FalRequestID}

		case gen.FalSubmissions > 0 && len(unrecorded) > 0:
			// fal answered an earlier run, which could not record the
			// answer (the database was down): the request is known, and
			// however long ago it was made, it is recorded once fal
			// confirms it, outside this transaction, rather than paid for
			// again.
			return &unrecordedRequest{endpointID: gen.EndpointID, requestID: unrecorded[0]}

		case gen.FalSubmissions > 0:
			// An earlier run may have had its request accepted by fal and
			// died before recording the answer, or given up waiting for
			// it. Its webhook names this generation, so give it time to
			// arrive before paying again, and pay again only so often.
			r, err := store.CheckResubmission(ctx, tx, id, w.pollAfter, w.timeout)
			if err != nil {
				return err
			}
			if heldBack(r, gen.Attempts) {
				held = true
				return w.noteHeld(ctx, logger, tx, gen, r, deref(gen.ErrorMessage))
			}
			if r.Wait > 0 {
				return river.JobSnooze(r.Wait)
			}
			logger.Warn("submitting again: fal's answer to an earlier submission was never recorded and no webhook came",
				"fal_submissions", gen.FalSubmissions, "unconfirmed", r.Unconfirmed, "submitting_at", gen.SubmittingAt)
		}

		reserved, err = store.ReserveSubmission(ctx, tx, id, gen.Client, w.limits)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		logger.Warn("generation does not exist; nothing to submit")
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if held {
		return nil, river.JobSnooze(w.pollAfter)
	}
	if reserved != nil {
		// Submitting again: fal said it knows none of the requests
		// remembered, if there were any.
		w.unrecorded.forget(id)
	}
	return reserved, nil
}

// heldBack reports whether a generation with submissions whose answers
// never came, after attempts attempts, must not be submitted again: it has
// MaxUnconfirmedSubmissions of them, or it used up maxSubmitAttempts (its
// last was one fal may have accepted, else it would have failed), or
// EASEL_TIMEOUT has passed since its first submission and the reconciler is
// about to time it out.
func heldBack(r store.Resubmission, attempts int) bool {
	return r.Unconfirmed >= MaxUnconfirmedSubmissions || attempts >= maxSubmitAttempts || r.Overdue
}

// noteHeld notes on gen, held back, why it is not submitted again, unless an
// earlier run did; lastErr is the last submit error, kept in the note. The
// job then snoozes PollAfter, again and again: it stays queued, so that a
// request a webhook reveals meanwhile is adopted without waiting for the
// timeout; a webhook with a result finishes it by itself, and the
// reconciler times it out EASEL_TIMEOUT after its first submission.
func (w *SubmitGenerationWorker) noteHeld(ctx context.Context, logger *slog.Logger, db store.DBTX, gen *store.Generation, r store.Resubmission, lastErr string) error {
	if deref(gen.ErrorCode) == store.ErrorCodeSubmitUnconfirmed {
		return nil
	}
	if err := store.RecordSubmitError(ctx, db, gen.ID, store.ErrorCodeSubmitUnconfirmed, w.heldMessage(r, gen.Attempts, lastErr)); err != nil {
		return err
	}
	logger.Error("fal may have accepted submissions whose answers never came; not submitting again",
		"error_code", store.ErrorCodeSubmitUnconfirmed, "unconfirmed", r.Unconfirmed, "attempts", gen.Attempts,
		"overdue", r.Overdue, "last_error", lastErr)
	return nil
}

// heldMessage is the error message of a generation held back after
// attempts attempts.
func (w *SubmitGenerationWorker) heldMessage(r store.Resubmission, attempts int, lastErr string) string {
	submissions := "submissions"
	if r.Unconfirmed == 1 {
		submissions = "submission"
	}
	message := fmt.Sprintf("fal may have accepted, and may bill, %d %s of this generation whose answers never reached Easel, and no webhook came: ",
		r.Unconfirmed, submissions)
	switch {
	case r.Unconfirmed >= MaxUnconfirmedSubmissions:
		message += fmt.Sprintf("not submitting again (at most %d are made); waiting for a webhook until EASEL_TIMEOUT (%s) after the first submission, "+
			"then the reconciler fails it with code %s", MaxUnconfirmedSubmissions, w.timeout, store.ErrorCodeTimeout)
	case attempts >= maxSubmitAttempts:
		message += fmt.Sprintf("not submitting again (%d attempts made, the most there are); waiting for a webhook until EASEL_TIMEOUT (%s) after the first submission, "+
			"then the reconciler fails it with code %s", attempts, w.timeout, store.ErrorCodeTimeout)
	default:
		message += fmt.Sprintf("not submitting again, EASEL_TIMEOUT (%s) having passed since the first submission; the reconciler fails it with code %s",
			w.timeout, store.ErrorCodeTimeout)
	}
	if lastErr != "" {
		message += "; last submit error: " + lastErr
	}
	return message
}

// revealedRequestRetry is about how long a run waits to ask fal again about
// a request a webhook revealed, when fal could not be asked.
const revealedRequestRetry = 5 * time.Second

// revealedRequest is claim's answer for a queued generation whose fal request
// only a webhook named: confirm it with fal before adopting it.
type revealedRequest struct {
	endpointID, requestID string
}

func (r *revealedRequest) Error() string {
	return "fal request " + r.requestID + " was named by a webhook and is not confirmed"
}

// confirmRevealed asks fal, with Easel's key, about a request that only a
// webhook named, and adopts it when fal knows it. fal signs every account's
// webhooks with the same keys and the signature does not cover the URL, so
// the request may be another account's: fal answers 404, 401 or 403 about
// those, and such a request is forgotten, the generation going on as if no
// webhook had come. It reports whether the request was adopted; when fal
// cannot be asked it neither adopts nor forgets, and snoozes.
func (w *SubmitGenerationWorker) confirmRevealed(ctx context.Context, logger *slog.Logger, id uuid.UUID, r *revealedRequest) (bool, error) {
	logger = logger.With("fal_request_id", r.requestID)
	statusURL, responseURL, cancelURL := w.fal.RequestURLs(r.endpointID, r.requestID)
	status, err := w.fal.Status(ctx, statusURL)
	var apiErr *fal.APIError
	switch {
	case errors.As(err, &apiErr) && (apiErr.StatusCode == http.StatusNotFound ||
		apiErr.StatusCode == http.StatusUnauthorized || apiErr.StatusCode == http.StatusForbidden):
		forgotten, err := store.ForgetRequest(ctx, w.pool, id, r.requestID)
		if err != nil {
			return false, fmt.Errorf("submit generation %s: %w", id, err)
		}
		if forgotten {
			logger.Warn("fal does not know, under Easel's key, the request a signed webhook or fal's own error answer named; not adopting it",
				"fal_status", apiErr.StatusCode)
		}
		return false, nil
	case err != nil:
		logger.Warn("could not ask fal about the request a webhook or its error answer named; will ask again", "error", err)
		return false, river.JobSnooze(jitter(revealedRequestRetry))
	}

	_, err = store.AdoptSubmission(ctx, w.pool, id, store.Submission{
		RequestID: r.requestID, StatusURL: statusURL, ResponseURL: responseURL, CancelURL: cancelURL,
		FalStatus: falStatusOf(status),
	})
	if errors.Is(err, store.ErrNotFound) {
		// Cancelled, finished or given another request meanwhile: claim
		// decides again.
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("submit generation %s: %w", id, err)
	}
	// A submission is confirmed now: nothing remembered is needed, as once
	// recordSubmitted records one, and the entry would otherwise hold room
	// in the bounded map until the process ends.
	w.unrecorded.forget(id)
	logger.Warn("adopted the fal request a webhook revealed; not submitting again")
	return true, nil
}

// unrecordedRequest is claim's answer for a queued generation when fal
// accepted a request for an earlier run of its job, which could not record
// fal's answer: confirm the request with fal and record it.
type unrecordedRequest struct {
	endpointID, requestID string
}

func (r *unrecordedRequest) Error() string {
	return "fal accepted request " + r.requestID + " for an earlier run, which could not record it"
}

// confirmUnrecorded asks fal, with Easel's key, about r, and records it as
// the generation's submission, as the run fal accepted it for would have,
// when fal knows it; a generation that finished or took another request
// meanwhile has it cancelled at fal instead (recordSubmitted). It reports
// whether it recorded, or tried to record, the request: a failing database
// ends the run with the request named again, for the next. fal answering
// 404 no longer knows the request, and the generation goes on as if its
// answer were lost: a wait for its webhook, then a submission. Any
// other failure to ask (no connection, 5xx, 401 or 403, although fal took
// the request with this key) neither records nor submits: the job snoozes
// a few seconds and asks again, until the generation ends, which the
// reconciler sees to EASEL_TIMEOUT after its first submission. Paying
// twice is worse than waiting.
func (w *SubmitGenerationWorker) confirmUnrecorded(ctx context.Context, logger *slog.Logger, id uuid.UUID, r *unrecordedRequest) (bool, error) {
	requestLogger := logger.With("fal_request_id", r.requestID)
	statusURL, responseURL, cancelURL := w.fal.RequestURLs(r.endpointID, r.requestID)
	status, err := w.fal.Status(ctx, statusURL)
	var apiErr *fal.APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound:
		requestLogger.Warn("fal does not know the request it accepted for an earlier run, which could not record it; going on as if its answer were lost",
			"fal_status", apiErr.StatusCode)
		return false, nil
	case err != nil:
		requestLogger.Warn("could not ask fal about the request it accepted for an earlier run, which could not record it; not submitting again, will ask again",
			"error", err)
		return false, river.JobSnooze(jitter(revealedRequestRetry))
	}
	requestLogger.Warn("fal confirmed the request it accepted for an earlier run, which could not record it; recording it instead of submitting again")
	// fal's status answer, not a submit's, says where the request is now.
	return true, w.recordSubmitted(ctx, logger, id, &fal.QueueResponse{
		RequestID: r.requestID, StatusURL: statusURL, ResponseURL: responseURL, CancelURL: cancelURL,
	}, falStatusOf(status))
}

// recordSubmitted stores fal's answer, resp, and seen, what fal said of the
// request's status with it (store.Submission.FalStatus). fal has accepted
// the request, so the answer is worth retrying for even when the job's own
// time is up.
func (w *SubmitGenerationWorker) recordSubmitted(ctx context.Context, logger *slog.Logger, id uuid.UUID, resp *fal.QueueResponse, seen store.FalStatus) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.recordTimeout)
	defer cancel()
	logger = logger.With("fal_request_id", resp.RequestID)

	var (
		gen      *store.Generation
		replaced string
	)
	err := retryDB(ctx, func() error {
		var err error
		gen, replaced, err = store.RecordSubmittedReplacing(ctx, w.pool, id, store.Submission{
			RequestID:        resp.RequestID,
			GatewayRequestID: resp.GatewayRequestID,
			StatusURL:        resp.StatusURL,
			ResponseURL:      resp.ResponseURL,
			CancelURL:        resp.CancelURL,
			FalStatus:        seen,
		})
		return err
	})
	if err != nil {
		// The next run finds the submission counted and unconfirmed. The
		// error names the request, and River keeps it in the job's errors
		// once the database is back; this process remembers it meanwhile,
		// in case River cannot (the rescuer ran the job again first). The
		// next run asks fal about it and records it, not submitting again.
		if w.unrecorded.remember(id, resp.RequestID) {
			logger.Warn("too many unrecorded answers to remember in this process; dropped the oldest generation's, which only its job's errors now hold",
				"max", w.unrecorded.max)
		}
		logger.Error("fal accepted the request but recording it failed; the job's next run records it once fal confirms it, instead of submitting again",
			"error", err)
		return &unrecordedAnswerError{generationID: id, requestID: resp.RequestID, err: err}
	}
	// A submission is confirmed now: nothing remembered is needed.
	w.unrecorded.forget(id)

	if deref(gen.FalRequestID) != resp.RequestID || (gen.Status.Terminal() && finishedOutcome(gen) == store.OutcomeLate) {
		// Cancelled (or timed out) while the submit call was under way,
		// finished by another request (an earlier submission whose answer
		// was lost), or already given another confirmed request: nobody
		// wants this one, and fal bills it if it runs.
		outcome, err := w.cancelUnneeded(ctx, logger, id, resp.RequestID, resp.CancelURL)
		logger.Warn("generation ended, or has another request, since its submit call started; cancelled the request at fal",
			"status", gen.Status, "finished_with_fal_request_id", deref(gen.FalRequestID),
			"cancel_outcome", outcome, "cancel_error", err)
		return nil
	}
	logger.Info("generation submitted to fal", "status", gen.Status)
	if replaced != "" {
		w.settleReplaced(ctx, logger, gen, replaced)
	}
	return nil
}

// settleReplaced deals with requestID, the request a webhook, or fal's
// error answer to a submit, named for gen while it was queued, which the
// answer to this run's submit has just replaced (store.RecordSubmittedReplacing,
// which wrote it down as a superseded request to cancel). A webhook is
// sent when a request has finished: fal has most likely run it, billed
// it, and holds the generation's result, which would otherwise never be
// fetched while this run's request ran and billed as well. So fal is
// asked about it with Easel's key, as a request a webhook revealed is
// (confirmRevealed), and a result is applied as the reconciler applies a
// polled one: it finishes gen, makes that request gen's, takes its cancel
// back and queues the cancel of this run's request instead
// (store.TakeResultRequest). Any other request (still running, unknown to
// fal, cancelled, or fal could not be asked) is cancelled as one nobody
// needs; a cancel not answered is sent by the reconciler once gen has
// finished, and the row keeps the request named either way.
func (w *SubmitGenerationWorker) settleReplaced(ctx context.Context, logger *slog.Logger, gen *store.Generation, requestID string) {
	logger = logger.With("replaced_fal_request_id", requestID)
	named := *gen
	named.FalRequestID, named.FalStatusURL, named.FalResponseURL = &requestID, nil, nil
	payload, err := fetchResult(ctx, w.fal, &named)
	if err == nil && !isClientCancelled(payload) {
		outcome, finished, err := applyResult(ctx, w.pool, w.publisher, gen.ID, payload)
		switch {
		case err != nil:
			logger.Error("could not apply the result of the request a webhook named, which this submission replaced; it stays written down to be cancelled",
				"error", err)
		case outcome == store.OutcomeApplied && finished != nil:
			// A polled result, counted as the reconciler counts its own.
			w.metrics.ResultApplied(metrics.ResultFromReconciler)
			w.metrics.GenerationFinished(finished)
			logger.Warn("applied the result of the request a webhook named while this submission was under way; "+
				"this submission's request is queued to be cancelled at fal", "status", finished.Status)
			return
		default:
			// Finished meanwhile by another result: the request is one
			// nobody needs.
			logger.Info("the request a webhook named finished after the generation did", "outcome", outcome)
		}
	}
	_, _, cancelURL := w.fal.RequestURLs(gen.EndpointID, requestID)
	outcome, cerr := w.cancelUnneeded(ctx, logger, gen.ID, requestID, cancelURL)
	logger.Warn("cancelled at fal the request a webhook named, which this submission replaced: it had no result to apply",
		"fetch_error", err, "cancel_outcome", outcome, "cancel_error", cerr)
}

// isClientCancelled reports whether payload, a polled result, says that
// the request was cancelled by Easel's key: a cancel of another request
// of the generation than the one it records, which must not cancel the
// generation (applyResultLocked).
func isClientCancelled(payload *fal.WebhookPayload) bool {
	if payload.Status != fal.WebhookStatusError {
		return false
	}
	code, _ := payload.ErrorDetail()
	return code == errorTypeClientCancelled
}

// submitFailed records a failed submit and decides between retrying (by
// snoozing, so that River's attempts are kept for crashes) and failing the
// generation for good.
func (w *SubmitGenerationWorker) submitFailed(jobCtx context.Context, logger *slog.Logger, gen *store.Generation, submitErr error) error {
	// The job's context may be what ended the call; the record must still
	// be written.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(jobCtx), w.recordTimeout)
	defer cancel()

	f := classifySubmitError(submitErr)
	if f.mayBeAccepted && errors.Is(submitErr, context.DeadlineExceeded) && jobCtx.Err() != nil {
		// The job's own deadline cut the call off: say which, so that the
		// setting that bounds it can be found.
		f.message = fmt.Sprintf("no answer from fal within the submit job's timeout (%s, half of EASEL_RESCUE_AFTER): %s", w.jobTimeout, submitErr)
	} else {
		f = explainInterruption(jobCtx, submitErr, f)
	}
	// error_message is the row's explanation, naming the setting to change
	// where there is one; error is what the call returned.
	logger = logger.With("error", submitErr.Error(), "error_code", f.code, "error_message", f.message,
		"fal_may_have_accepted", f.mayBeAccepted)
	var (
		apiErr       *fal.APIError
		namedRequest string
	)
	if errors.As(submitErr, &apiErr) && apiErr.RequestID != "" {
		// fal named a request in its error answer: it may exist, and bill.
		// It is recorded as a request a webhook named is, so that the next
		// run asks fal about it and adopts it rather than paying again.
		namedRequest = apiErr.RequestID
		logger = logger.With("fal_request_id", namedRequest)
	}

	var (
		err      error
		recorded *store.Generation
	)
	if f.mayBeAccepted {
		recorded, err = store.RecordSubmitErrorNamingRequest(ctx, w.pool, gen.ID, f.code, f.message, namedRequest)
	} else {
		err = store.RecordSubmitRefused(ctx, w.pool, gen.ID, f.code, f.message)
	}
	if err != nil {
		return errors.Join(fmt.Errorf("submit generation %s: %w", gen.ID, submitErr), err)
	}
	if recorded != nil && namedRequest != "" && recorded.Status.Terminal() {
		// Finished while the submit call was under way (cancelled, timed
		// out, or by another request's result): nobody wants the request
		// fal named, which may run and bill, so it is cancelled as an
		// accepted one is (recordSubmitted), and the job is done.
		w.cancelNamedRequest(ctx, logger, recorded, namedRequest)
		return nil
	}

	// A submission fal may have accepted is never failed for being the
	// last attempt: fal may run it and bill it, and its webhook must still
	// be able to finish the generation. It is held back instead (heldBack).
	if !f.retry || (gen.Attempts >= maxSubmitAttempts && !f.mayBeAccepted) {
		logger.Error("submit to fal failed; generation failed", "attempts", gen.Attempts)
		changed, err := store.Fail(ctx, w.pool, gen.ID, f.code, f.message)
		if err != nil {
			return errors.Join(fmt.Errorf("submit generation %s: %w", gen.ID, submitErr), err)
		}
		if changed {
			w.publisher.Publish(gen.ID.String())
			w.metrics.GenerationFailed(f.code)
		}
		return nil
	}
	if f.mayBeAccepted {
		r, err := store.CheckResubmission(ctx, w.pool, gen.ID, w.pollAfter, w.timeout)
		if err != nil {
			return errors.Join(fmt.Errorf("submit generation %s: %w", gen.ID, submitErr), err)
		}
		if heldBack(r, gen.Attempts) {
			if err := w.noteHeld(ctx, logger, w.pool, gen, r, f.message); err != nil {
				return errors.Join(fmt.Errorf("submit generation %s: %w", gen.ID, submitErr), err)
			}
			return river.JobSnooze(w.pollAfter)
		}
		// The next run waits PollAfter from this submission for its
		// webhook before submitting again.
		w.logRetried(jobCtx, logger, gen, f, "submit to fal failed after sending; waiting for a webhook before submitting again",
			"unconfirmed", r.Unconfirmed)
		return river.JobSnooze(w.pollAfter)
	}
	delay := submitBackoff(gen.Attempts, f.retryAfter)
	w.logRetried(jobCtx, logger, gen, f, "submit to fal failed; will retry", "retry_in", delay)
	return river.JobSnooze(delay)
}

// cancelNamedRequest cancels at fal requestID, which fal's error answer to
// a submit named, once gen has finished during the call, unless it is the
// request whose own result finished gen: the answer to an accepted submit
// is handled so (recordSubmitted), and a 5xx naming a request may be a
// request fal accepted. A request fal never queued is cancelled without
// harm: fal answers that it does not know it.
func (w *SubmitGenerationWorker) cancelNamedRequest(ctx context.Context, logger *slog.Logger, gen *store.Generation, requestID string) {
	if deref(gen.FalRequestID) == requestID && finishedOutcome(gen) != store.OutcomeLate {
		logger.Info("the request fal's error answer named finished the generation during the call; nothing to cancel", "status", gen.Status)
		return
	}
	_, _, cancelURL := w.fal.RequestURLs(gen.EndpointID, requestID)
	outcome, err := w.cancelUnneeded(ctx, logger, gen.ID, requestID, cancelURL)
	logger.Warn("generation ended since its submit call started; cancelled at fal the request fal's error answer named",
		"status", gen.Status, "finished_with_fal_request_id", deref(gen.FalRequestID),
		"cancel_outcome", outcome, "cancel_error", err)
}

// cancelUnneeded cancels fal request requestID of generation id, which
// nobody wants any more, and records fal's answer. The cancel is written
// down before it is sent, so that a process dying in between, or a fal
// that does not answer, leaves it to the reconciler.
func (w *SubmitGenerationWorker) cancelUnneeded(ctx context.Context, logger *slog.Logger, id uuid.UUID, requestID, cancelURL string) (fal.CancelOutcome, error) {
	if err := store.QueueFalCancel(ctx, w.pool, id, requestID, cancelURL, store.FalCancelSuperseded); err != nil {
		logger.Error("could not write down the cancel of a request nobody needs; sending it all the same", "error", err)
	}
	outcome, err := knownCancelOutcome(w.fal.Cancel(ctx, cancelURL))
	if err == nil || cancelRefused(err) {
		// Written even if QueueFalCancel failed: the answer is then the
		// only record of the request.
		answer, lastError := falCancelAnswer(outcome, err)
		if ferr := store.FalCancelAnswered(ctx, w.pool, id, requestID, cancelURL, store.FalCancelSuperseded, answer, lastError); ferr != nil {
			logger.Warn("fal answered the cancel, but recording its answer failed; the reconciler sends it again", "error", ferr)
		}
	}
	return outcome, err
}

// logRetried logs a submit failure that is retried, gen being the
// generation as the attempt found it. A call Easel itself cut off is said
// to be so. Otherwise the generation's first failure is a WARN and its
// retries failing again (its error_code already set), whatever their code,
// are DEBUG, each failure counting towards the process's summary, logged
// at WARN once a minute per code: a fal outage gives one line per
// generation and one a minute per code, not one per generation per retry,
// even when fal alternates 5xx and 429.
func (w *SubmitGenerationWorker) logRetried(ctx context.Context, logger *slog.Logger, gen *store.Generation, f submitFailure, msg string, args ...any) {
	if f.interruptedBy != "" {
		logger.Warn("submit to fal cut off by Easel, not by fal", append(args, "interrupted_by", f.interruptedBy)...)
		return
	}
	level := slog.LevelWarn
	if gen.ErrorCode != nil {
		level = slog.LevelDebug
	}
	logger.Log(ctx, level, msg, args...)
	if win := w.failures.add(f.code, gen.ID, f.message); win != nil {
		w.logger.Warn("fal submits failing", "error_code", f.code, "failures", win.failures,
			"generations", len(win.generations), "since", win.since, "last_error", win.lastError,
			"note", "each generation's first failure is logged at WARN and its retries at DEBUG, whatever their code; "+
				"its error_code and error_message say the latest")
	}
}

// giveUp fails a generation whose job River is about to discard, so that
// it does not stay queued forever. One that counts a submission is left
// alone: fal may be running that request, which its webhook or else the
// reconciler's timeout settles, saying that it may have been billed, where
// store.ErrorCodeSubmitFailed would say that nothing was.
func (w *SubmitGenerationWorker) giveUp(ctx context.Context, logger *slog.Logger, id uuid.UUID, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.recordTimeout)
	defer cancel()
	changed, ferr := store.FailUnsubmitted(ctx, w.pool, id, store.ErrorCodeSubmitFailed, "could not submit: "+err.Error())
	switch {
	case ferr != nil:
		logger.Error("submit job out of attempts; could not fail its generation", "error", err, "fail_error", ferr)
	case changed:
		logger.Error("submit job out of attempts; generation failed", "error", err, "error_code", store.ErrorCodeSubmitFailed)
		w.publisher.Publish(id.String())
		w.metrics.GenerationFailed(store.ErrorCodeSubmitFailed)
	default:
		logger.Error("submit job out of attempts; generation left to its webhook or the reconciler's timeout: finished already, or an earlier submission may be running at fal", "error", err)
	}
}

// retryDB runs f until it succeeds or ctx ends, backing off from 100ms to
// 2s: the database may be restarting.
func retryDB(ctx context.Context, f func() error) error {
	delay := 100 * time.Millisecond
	for {
		err := f()
		if err == nil || errors.Is(err, store.ErrNotFound) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(jitter(delay)):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// clientCapBackoff is the snooze of a job whose client is at its cap, from
// the number of times River has snoozed it (its metadata's "snoozes").
func clientCapBackoff(metadata []byte) time.Duration {
	var m struct {
		Snoozes int `json:"snoozes"`
	}
	_ = json.Unmarshal(metadata, &m) // no metadata: never snoozed
	return jitter(min(clientCapSnooze<<min(max(m.Snoozes, 0), 10), clientCapSnoozeMax))
}

func isSnooze(err error) bool {
	var snooze *river.JobSnoozeError
	return errors.As(err, &snooze)
}

// jitter returns d give or take half, so that waiting workers spread out.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d+1)
}
