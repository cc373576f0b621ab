package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/metrics"
	"github.com/easelhq/easel/notify"
	"github.com/easelhq/easel/store"
)

// reconcileBatch bounds the generations one reconciler run polls, and those
// it times out or fails for a lost job, so that a run stays short however
// much is overdue. With reconcileConcurrency at once, a batch takes seven
// rounds of calls to fal.
const reconcileBatch = 50

// jobLostMessage is the error message of a generation failed with
// store.ErrorCodeJobLost: its submit job no longer exists (cancelled or
// deleted in River UI, or discarded) and it was never submitted, so
// nothing would ever submit it. Failing it, rather than inserting a new
// job, leaves the decision to submit again, and pay, to whoever enqueued
// it.
const jobLostMessage = "its submit_generation job was cancelled, deleted or discarded in River before it submitted anything; " +
	"nothing was sent to fal: enqueue it again"

// ReconcileArgs runs the reconciler once. The leader inserts it
// periodically; nothing else needs to.
type ReconcileArgs struct{}

// Kind is River's name for the job.
func (ReconcileArgs) Kind() string { return "reconcile_generations" }

// InsertOpts runs the reconciler on its own queue, one at a time: a run
// still pending or running makes the next periodic insert a no-op.
func (ReconcileArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:       QueueReconcile,
		MaxAttempts: 1,
		UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
			rivertype.JobStateRetryable, rivertype.JobStateScheduled,
		}},
	}
}

// reconcilePeriodicJob runs the reconciler a few times per pollAfter,
// between every second and every 30 seconds.
func reconcilePeriodicJob(pollAfter time.Duration) *river.PeriodicJob {
	interval := min(max(pollAfter/4, time.Second), 30*time.Second)
	return river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) { return ReconcileArgs{}, nil },
		&river.PeriodicJobOpts{ID: ReconcileArgs{}.Kind(), RunOnStart: true})
}

// ReconcileWorker finds what webhooks did not settle. It asks fal about
// submitted generations that had no webhook for PollAfter, or whose
// webhook carried no result (payload_error), and records what fal answers
// as DecideResult decides, as the webhook receiver does. Generations in
// flight for longer than Timeout are cancelled at fal and failed with
// store.ErrorCodeTimeout. Queued generations due for longer than PollAfter
// whose submit job is gone are failed with store.ErrorCodeJobLost. Last,
// the requests of finished generations that nobody needs
// (store.ClaimFalCancels) are cancelled at fal: one the result of another
// submission superseded, and a timed out one whose cancel failed.
//
// A generation fal reports finished whose result cannot be fetched stays
// submitted, the last failure noted on it with
// store.ErrorCodeResultUnavailable, and is failed with that code once past
// Timeout if fal answers 404 or 410 (it no longer holds the result), else
// once 2 × Timeout have passed since its submission started: a 5xx or a
// broken connection may be fal's storage having a bad hour, and the result
// was likely paid for, but the generation must not hold a FAL_MAX_INFLIGHT
// slot for ever.
type ReconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]

	pool *pgxpool.Pool
	// fal gives up on each call after reconcileCallTimeout.
	fal Fal
	// publicURL is EASEL_PUBLIC_URL, named when no webhook comes; any
	// password in it is hidden.
	publicURL  string
	pollAfter  time.Duration
	timeout    time.Duration
	jobTimeout time.Duration
	// recordTimeout bounds unclaiming, after the job's time ran out, the
	// generations it claimed but never asked about, and writing down what
	// fal answered once the run's context may have ended (recordContext).
	recordTimeout time.Duration
	metrics       *metrics.Metrics
	publisher     *notify.Publisher
	logger        *slog.Logger
	// webhookless counts the results applied to generations no webhook
	// reached, for the process, which has one worker.
	webhookless *webhooklessResults
}

// NewReconcileWorker returns a worker configured by cfg.
func NewReconcileWorker(pool *pgxpool.Pool, cfg Config) *ReconcileWorker {
	cfg = cfg.withDefaults()
	return &ReconcileWorker{
		pool:          pool,
		fal:           callTimeoutFal{Fal: cfg.Fal, timeout: reconcileCallTimeout(cfg.jobTimeout())},
		publicURL:     loggablePublicURL(cfg.PublicURL),
		pollAfter:     cfg.PollAfter,
		timeout:       cfg.Timeout,
		jobTimeout:    cfg.jobTimeout(),
		recordTimeout: cfg.recordTimeout(),
		metrics:       cfg.Metrics,
		publisher:     cfg.publisher(pool),
		logger:        cfg.Logger,
		webhookless:   newWebhooklessResults(),
	}
}

// Timeout keeps each run well inside EASEL_RESCUE_AFTER.
func (w *ReconcileWorker) Timeout(*river.Job[ReconcileArgs]) time.Duration { return w.jobTimeout }

// Work times out the overdue, fails the stranded, polls, then cancels the
// unneeded requests, up to 50 generations (or requests) of each in a run,
// handling 8 at once in each step. fal's errors about one generation, a
// call that timed out included, are logged and leave it for the next run,
// noted on it when fal reports it finished (until it is failed with
// store.ErrorCodeResultUnavailable, as ReconcileWorker says). Database
// errors fail the job: the first one stops the step, the calls of the
// others in flight cancelled. So does running out of time; either way, the generations
// claimed to be polled but never asked about are unclaimed.
func (w *ReconcileWorker) Work(ctx context.Context, _ *river.Job[ReconcileArgs]) error {
	overdue, err := store.ListTimedOut(ctx, w.pool, w.timeout, reconcileBatch)
	if err != nil {
		return err
	}
	// ListTimedOut claims nothing: those not started are simply first in
	// line next run.
	if _, err := reconcileEach(ctx, overdue, w.timeOut); err != nil {
		return fmt.Errorf("time out generations: %w", err)
	}

	stranded, err := store.FailJobless(ctx, w.pool, SubmitGenerationArgs{}.Kind(), w.pollAfter, reconcileBatch,
		store.ErrorCodeJobLost, jobLostMessage)
	if err != nil {
		return err
	}
	for _, id := range stranded {
		w.publisher.Publish(id.String())
		w.metrics.GenerationFailed(store.ErrorCodeJobLost)
		w.logger.Error("generation failed: its submit job is gone and it was never submitted",
			"generation_id", id, "error_code", store.ErrorCodeJobLost)
	}

	due, err := store.ClaimPolls(ctx, w.pool, w.pollAfter, reconcileBatch)
	if err != nil {
		return err
	}
	skipped, err := reconcileEach(ctx, due, w.poll)
	if len(skipped) > 0 {
		w.unclaim(ctx, skipped)
	}
	if err != nil {
		return fmt.Errorf("poll generations: %w", err)
	}

	// Last, so that the requests the steps above made unneeded are
	// cancelled in this run.
	_, err = w.cancelUnneededRequests(ctx)
	return err
}

// cancelUnneededRequests claims up to reconcileBatch cancels of requests
// nobody needs (store.ClaimFalCancels) and sends them, returning how many
// it claimed. The claim stamps them for PollAfter, so that the reconciler
// and a FalCancelSender, in this process or another, never send one twice.
func (w *ReconcileWorker) cancelUnneededRequests(ctx context.Context) (int, error) {
	unneeded, err := store.ClaimFalCancels(ctx, w.pool, w.pollAfter, reconcileBatch)
	if err != nil {
		return 0, err
	}
	if _, err := reconcileEach(ctx, unneeded, w.cancelUnneeded); err != nil {
		return len(unneeded), fmt.Errorf("cancel unneeded fal requests: %w", err)
	}
	return len(unneeded), nil
}

// cancelRefused reports whether err, from fal's Cancel, says that sending
// the cancel again cannot help: fal refused it (a 4xx other than the
// answers Cancel turns into outcomes: a request of another account, which
// a webhook named, gets 401 or 403), or the client refused to send it
// (fal.ErrInvalidRequest) even to the URL built from the request's ids,
// which cancelRequest falls back to when it refuses the stored one: a
// malformed FAL_QUEUE_URL, say.
func cancelRefused(err error) bool {
	var apiErr *fal.APIError
	return errors.Is(err, fal.ErrInvalidRequest) ||
		(errors.As(err, &apiErr) && apiErr.StatusCode < http.StatusInternalServerError)
}

// falCancelAnswer is what fal_request_cancels records of a cancel fal
// answered (err nil: outcome, fal's answer) or refused (cancelRefused(err):
// store.FalCancelRefused, with err as its last error).
func falCancelAnswer(outcome fal.CancelOutcome, err error) (answer store.FalCancelAnswer, lastError string) {
	if err != nil {
		return store.FalCancelRefused, err.Error()
	}
	// Only once knownCancelOutcome has passed it: store's answers are
	// fal's, as fal spells them.
	return store.FalCancelAnswer(outcome), ""
}

// knownCancelOutcome passes on what fal's Cancel returned, except that an
// outcome Easel does not know is an error, and no answer: the table refuses
// to record it (falCancelAnswer), and the cancel would otherwise stay pending
// for ever and the generation it timed out never fail. As an error, not a
// refusal (cancelRefused), it is noted on the cancel's row, and the cancel
// is sent again until it is given up.
func knownCancelOutcome(outcome fal.CancelOutcome, err error) (fal.CancelOutcome, error) {
	switch {
	case err != nil:
		return outcome, err
	case outcome == fal.CancelRequested, outcome == fal.CancelAlreadyCompleted, outcome == fal.CancelNotFound:
		return outcome, nil
	}
	return "", fmt.Errorf("fal answered the cancel with %q, which Easel does not know", outcome)
}

// cancelUnneeded cancels at fal a request of a finished generation that
// nobody needs, and records fal's answer on the cancel's row once fal has
// answered: cancelled, already completed, not known, or refused (4xx). The
// row is kept: when the generation records another request (one this one
// superseded), it is the only place the request is named, and already
// completed means fal ran it and bills it, whether or not its webhook is
// ever stored. A cancel fal does not answer (no connection, 5xx, no answer
// in time) is sent again at a later run, PollAfter after this one, until
// it is Timeout old: fal has had that long to finish the request anyway,
// and the row is kept given up.
func (w *ReconcileWorker) cancelUnneeded(ctx context.Context, c *store.FalCancel) error {
	logger := w.logger.With("generation_id", c.GenerationID, "fal_request_id", c.RequestID, "reason", c.Reason, "attempts", c.Attempts)
	outcome, err := knownCancelOutcome(cancelRequest(ctx, w.fal, c.CancelURL, c.EndpointID, c.RequestID))
	if cancelRefused(err) {
		logger.Warn("fal refused to cancel a request nobody needs; not trying again", "error", err)
		answer, lastError := falCancelAnswer(outcome, err)
		rctx, cancel := w.recordContext(ctx)
		defer cancel()
		return store.FalCancelAnswered(rctx, w.pool, c.GenerationID, c.RequestID, c.CancelURL, c.Reason, answer, lastError)
	}
	if err != nil {
		gaveUp, rerr := store.RecordFalCancelError(ctx, w.pool, c.GenerationID, c.RequestID, err.Error(), w.timeout)
		switch {
		case rerr != nil:
			return rerr
		case gaveUp:
			logger.Error("gave up cancelling at fal a request nobody needs; it may run to completion and bill",
				"error", err, "since", c.CreatedAt)
		default:
			logger.Warn("could not cancel at fal a request nobody needs; will retry", "error", err)
		}
		return nil
	}
	answer, lastError := falCancelAnswer(outcome, nil)
	rctx, cancel := w.recordContext(ctx)
	defer cancel()
	if err := store.FalCancelAnswered(rctx, w.pool, c.GenerationID, c.RequestID, c.CancelURL, c.Reason, answer, lastError); err != nil {
		return err
	}
	logger.Info("cancelled at fal a request nobody needs", "cancel_outcome", outcome)
	return nil
}

// unclaim makes gens, claimed by this run but never asked about, due again
// at once. It runs after the job's context may have ended, within
// recordTimeout, as the record of a job's work does elsewhere; should it
// fail, they wait EASEL_POLL_AFTER, as they would have without it.
func (w *ReconcileWorker) unclaim(ctx context.Context, gens []*store.Generation) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.recordTimeout)
	defer cancel()
	ids := make([]uuid.UUID, len(gens))
	for i, gen := range gens {
		ids[i] = gen.ID
	}
	unclaimed, err := store.UnclaimPolls(ctx, w.pool, ids, w.pollAfter)
	if err != nil {
		w.logger.Warn("reconciler could not unclaim the generations it did not poll; they wait EASEL_POLL_AFTER",
			"generations", len(gens), "error", err)
		return
	}
	w.logger.Info("reconciler unclaimed the generations it did not poll", "generations", len(gens), "unclaimed", unclaimed)
}

// recordContext returns the context on which to write down what fal
// answered, derived from ctx, the run's: once fal has answered (a result, a
// status, a cancel's outcome), the answer is worth recording even should
// ctx end meanwhile, as it does when another generation's database error
// cancels the step's calls (reconcileEach), at the job's timeout, or, for a
// FalCancelSender, at SIGTERM. Otherwise a cancel fal carried out would be
// sent again and a paid result fetched again, or not at all. The write is
// bounded by recordTimeout, as the submit worker bounds its record of
// fal's answer to a submit. Writes that follow no answer of fal's (a call
// that failed, perhaps because ctx ended) stay on ctx.
func (w *ReconcileWorker) recordContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), w.recordTimeout)
}

// poll asks fal about gen and applies its result once there is one. While
// there is none, what fal said of the request (IN_QUEUE and its position,
// IN_PROGRESS; COMPLETED when the result could not be fetched) is noted on
// the row, so that the row and the API say why it is not done yet.
func (w *ReconcileWorker) poll(ctx context.Context, gen *store.Generation) error {
	logger := withFalRequest(w.logger.With("generation_id", gen.ID), gen)
	asked := &statusSeen{Fal: w.fal}
	payload, err := fetchResult(ctx, asked, gen)
	var fetchErr *fetchError
	switch {
	case errors.Is(err, errNotFinished):
		return w.recordFalStatus(ctx, gen, asked.status)
	case errors.As(err, &fetchErr) && fetchErr.finished:
		if err := w.recordFalStatus(ctx, gen, asked.status); err != nil {
			return err
		}
		return w.resultUnavailable(ctx, logger, gen, fetchErr.err, false)
	case err != nil:
		logger.Warn("reconciler could not fetch a result from fal; will retry", "error", err)
		return nil
	}
	return w.apply(ctx, logger, gen, payload)
}

// recordFalStatus notes status, fal's answer about gen's request, on gen,
// provided gen still records that request and is unfinished
// (store.RecordFalStatus): an answer that a webhook overtook writes
// nothing.
func (w *ReconcileWorker) recordFalStatus(ctx context.Context, gen *store.Generation, status *fal.Status) error {
	if status == nil || gen.FalRequestID == nil {
		return nil
	}
	ctx, cancel := w.recordContext(ctx)
	defer cancel()
	_, err := store.RecordFalStatus(ctx, w.pool, gen.ID, *gen.FalRequestID, status.Status, status.QueuePosition)
	return err
}

// statusSeen is a Fal that keeps the last status fal answered, so that the
// poll can record the answer that fetchResult reduced to errNotFinished
// without asking fal twice.
type statusSeen struct {
	Fal
	status *fal.Status
}

func (s *statusSeen) Status(ctx context.Context, statusURL string) (*fal.Status, error) {
	status, err := s.Fal.Status(ctx, statusURL)
	if err == nil {
		s.status = status
	}
	return status, err
}

// apply records payload, fal's result for gen.
func (w *ReconcileWorker) apply(ctx context.Context, logger *slog.Logger, gen *store.Generation, payload *fal.WebhookPayload) error {
	ctx, cancel := w.recordContext(ctx)
	defer cancel()
	outcome, finished, err := applyResult(ctx, w.pool, w.publisher, gen.ID, payload)
	if err != nil {
		return err
	}
	w.logApplied(logger, gen, outcome, finished != nil)
	if finished == nil {
		return nil
	}
	if finished.Status == store.StatusFailed {
		// As the webhook receiver does: fal's failures are explained in
		// the log as well as in the row.
		LogResultFailure(logger, deref(finished.ErrorCode), deref(finished.ErrorMessage))
	}
	// Counted as the webhook receiver counts what it finishes, time to
	// complete included.
	w.metrics.ResultApplied(metrics.ResultFromReconciler)
	w.metrics.GenerationFinished(finished)
	return nil
}

// timeOutRounds bounds how often timeOut looks at a generation again
// because another request was recorded on it while it cancelled one. Only
// a submit call under way when the generation timed out can record one,
// and the submit job submits no more once EASEL_TIMEOUT has passed, so a
// second round is rare and a third rarer still; past the bound the
// generation is left for the next run.
const timeOutRounds = 3

// timeOut cancels the request of gen, timed out, at fal and fails it with
// store.ErrorCodeTimeout, unless fal turns out to have finished it, when its
// result is applied (see fetchFinished). gen was read when the run began,
// and an answer to a submit call may have been recorded since: the
// generation is read again, locked, as the cancel is written down
// (store.PrepareTimeout), and failed only if it still records the request
// that was cancelled, else the one it now records is cancelled in turn.
func (w *ReconcileWorker) timeOut(ctx context.Context, gen *store.Generation) error {
	logger := w.logger.With("generation_id", gen.ID)
	for range timeOutRounds {
		current, err := store.PrepareTimeout(ctx, w.pool, gen.ID)
		if current == nil || err != nil {
			return err // finished meanwhile, or the database failed
		}
		failed, err := w.timeOutRequest(ctx, withFalRequest(logger, current), current)
		if failed || err != nil {
			return err
		}
	}
	logger.Warn("timed out generation given another fal request while its cancel was sent; left for the next run")
	return nil
}

// timeOutRequest cancels at fal the request gen records, if any, and fails
// gen, provided it still records that request; it reports whether gen
// needs no further round: failed, or finished by its result. Before the
// cancel, fal is asked for the request's status, which the failed
// generation keeps (statusBeforeCancel): whether fal had started it, and
// may bill it. The status last polled may be EASEL_POLL_AFTER old, and the
// request started since.
func (w *ReconcileWorker) timeOutRequest(ctx context.Context, logger *slog.Logger, gen *store.Generation) (bool, error) {
	message := fmt.Sprintf("fal did not finish within EASEL_TIMEOUT (%s) of the submission", w.timeout)
	var (
		cancelAnswer store.FalCancelAnswer
		cancelErr    string
		seen         store.FalStatus
		// recordCtx is what records the timeout: ctx, or once fal has
		// answered the cancel, recordContext's.
		recordCtx = ctx
	)
	if gen.FalRequestID == nil {
		// On a row with no request every counted submission is unconfirmed.
		message = fmt.Sprintf("fal's answer to %d submission(s), each of which fal may have accepted and billed, was never learnt, and no webhook came within EASEL_TIMEOUT (%s) of the first", gen.FalSubmissions, w.timeout)
	} else {
		seen = statusBeforeCancel(ctx, w.fal, logger, gen, statusBeforeCancelTimeout(reconcileCallTimeout(w.jobTimeout)))
		outcome, err := knownCancelOutcome(cancelRequest(ctx, w.fal, deref(gen.FalCancelURL), gen.EndpointID, *gen.FalRequestID))
		if err == nil || cancelRefused(err) {
			cancelAnswer, cancelErr = falCancelAnswer(outcome, err)
			// fal answered: what follows records it.
			var cancel context.CancelFunc
			recordCtx, cancel = w.recordContext(ctx)
			defer cancel()
		}
		switch {
		case err != nil:
			logger.Warn("could not cancel a timed out request at fal", "error", err)
			message += "; cancelling it at fal failed: " + err.Error()
			if !cancelRefused(err) {
				cancelErr = err.Error()
				message += "; the reconciler sends the cancel again"
			}
		case outcome == fal.CancelAlreadyCompleted:
			// It finished after all: its result wins over the timeout.
			// fal ran the request, and bills it, whether or not its result
			// can be fetched: the answer is recorded first.
			if err := store.FalCancelAnswered(recordCtx, w.pool, gen.ID, *gen.FalRequestID, deref(gen.FalCancelURL), store.FalCancelTimeout,
				cancelAnswer, cancelErr); err != nil {
				return false, err
			}
			return true, w.fetchFinished(ctx, logger, gen)
		case outcome == fal.CancelRequested:
			message += "; cancelled at fal"
		case outcome == fal.CancelNotFound:
			// fal forgets requests (a restart, an expired request id):
			// saying "cancelled" would claim a cancel that never happened.
			message += "; fal did not know the request, so nothing was cancelled there"
		}
	}
	changed, err := store.FailTimedOut(recordCtx, w.pool, gen.ID, gen.FalRequestID, store.ErrorCodeTimeout, message, cancelAnswer, cancelErr, seen)
	if err != nil || !changed {
		return false, err
	}
	w.publisher.Publish(gen.ID.String())
	w.metrics.GenerationFailed(store.ErrorCodeTimeout)
	logger.Warn("generation timed out", "message", message)
	return true, nil
}

// fetchFinished fetches and applies the result of gen, timed out, whose
// request fal answered the cancel with ALREADY_COMPLETED. fal having said
// so, any failure to get the result, its status's included, is the
// result's being unavailable.
func (w *ReconcileWorker) fetchFinished(ctx context.Context, logger *slog.Logger, gen *store.Generation) error {
	payload, err := fetchResult(ctx, w.fal, gen)
	if err == nil {
		return w.apply(ctx, logger, gen, payload)
	}
	return w.resultUnavailable(ctx, logger, gen, afterAlreadyCompleted(err), true)
}

// resultUnavailable handles gen, whose request fal reports finished but
// whose result could not be fetched, cause being the last failure.
//
// Once gen is past Timeout (timedOut) it is failed with
// store.ErrorCodeResultUnavailable: at once if fal answered 404 or 410,
// since fal no longer holds the result and no retry can fetch it; otherwise once
// 2 × Timeout have passed since its submission started. A 5xx or a broken
// connection may be fal's storage having a bad hour, and the result was
// likely paid for, so it gets as long again as fal had to finish it; but no
// longer, so that it does not stay submitted, holding a FAL_MAX_INFLIGHT
// slot and asked about at every run, for ever. Until then it stays
// submitted with cause noted in its error_code and error_message, so that
// the row says why, and the next runs ask again.
func (w *ReconcileWorker) resultUnavailable(ctx context.Context, logger *slog.Logger, gen *store.Generation, cause error, timedOut bool) error {
	const prefix = "fal reported the request finished, so it was likely paid for, but its result could not be fetched"
	giveUpAfter := 2 * w.timeout
	if timedOut {
		var (
			failed bool
			err    error
			apiErr *fal.APIError
		)
		gone := errors.As(cause, &apiErr) && (apiErr.StatusCode == http.StatusNotFound || apiErr.StatusCode == http.StatusGone)
		if gone {
			message := fmt.Sprintf("%s: fal no longer holds it (HTTP %d): %s", prefix, apiErr.StatusCode, cause)
			failed, err = store.Fail(ctx, w.pool, gen.ID, store.ErrorCodeResultUnavailable, message)
		} else {
			message := fmt.Sprintf("%s within 2 × EASEL_TIMEOUT (%s) of the submission; last error: %s", prefix, giveUpAfter, cause)
			failed, err = store.FailSubmittedBefore(ctx, w.pool, gen.ID, giveUpAfter, store.ErrorCodeResultUnavailable, message)
		}
		if err != nil {
			return err
		}
		switch {
		case failed:
			w.publisher.Publish(gen.ID.String())
			w.metrics.GenerationFailed(store.ErrorCodeResultUnavailable)
			logger.Error("generation failed: fal reported it finished but its result could not be fetched",
				"error_code", store.ErrorCodeResultUnavailable, "error", cause)
			return nil
		case gone:
			// Finished meanwhile, by a webhook: nothing to note.
			return nil
		}
	}
	message := fmt.Sprintf("%s yet; retrying for up to 2 × EASEL_TIMEOUT (%s) after the submission: %s", prefix, giveUpAfter, cause)
	if err := store.RecordResultError(ctx, w.pool, gen.ID, store.ErrorCodeResultUnavailable, message); err != nil {
		return err
	}
	logger.Warn("fal reported the request finished but its result could not be fetched; will retry",
		"error_code", store.ErrorCodeResultUnavailable, "error", cause)
	return nil
}

// applyResult applies payload to generation id in a transaction of its own,
// and announces the generation with publisher once that has committed, when
// the result finished it. It returns the outcome and, when the result
// finished the generation, the generation as it left it, read in the same
// transaction, so that what it finished counts even should the database
// fail just after.
func applyResult(ctx context.Context, pool *pgxpool.Pool, publisher *notify.Publisher, id uuid.UUID,
	payload *fal.WebhookPayload,
) (store.WebhookOutcome, *store.Generation, error) {
	var (
		outcome  store.WebhookOutcome
		finished *store.Generation
	)
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		gen, err := store.LockGeneration(ctx, tx, id)
		if err != nil {
			return err
		}
		if outcome, err = applyResultLocked(ctx, tx, gen, payload); err != nil || outcome != store.OutcomeApplied {
			return err
		}
		finished, err = store.GetGeneration(ctx, tx, id)
		return err
	})
	if err != nil {
		return "", nil, fmt.Errorf("apply fal's result to generation %s: %w", id, err)
	}
	if finished != nil {
		publisher.Publish(id.String())
	}
	return outcome, finished, nil
}

// deref returns *p, or the zero value for nil.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
