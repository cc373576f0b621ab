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

// ErrFinished is wrapped, with the generation's id, by the error
// Canceller.Cancel returns for a generation that finished before it could
// be cancelled.
var ErrFinished = errors.New("generation already finished")

// ErrFalUnavailable is wrapped, with the fal client's error, by the error
// Canceller.Cancel returns when fal did not confirm a cancel: unreachable,
// too slow to answer, or answering with an error. Other errors are the
// database's. The generation is unchanged, and cancelling again is safe.
var ErrFalUnavailable = errors.New("fal did not confirm the cancel")

// ErrCancelMayHaveReachedFal is wrapped, with ErrFalUnavailable, when the
// cancel may have reached fal all the same: fal's answer did not come in
// time, the connection broke after the request was sent, or fal answered
// 5xx. If fal did cancel the request, the generation ends cancelled once
// fal's result is learnt: by the reconciler, or by the next cancel, which
// fal answers ALREADY_COMPLETED. Without it, the cancel never reached fal
// (no connection could be made) or fal refused it (4xx).
var ErrCancelMayHaveReachedFal = errors.New("the cancel may have reached fal")

// Canceller cancels generations.
type Canceller struct {
	pool      *pgxpool.Pool
	river     *river.Client[pgx.Tx]
	fal       Fal
	publisher *notify.Publisher
	metrics   *metrics.Metrics
	logger    *slog.Logger
	// recordTimeout bounds asking fal to cancel and recording its answer,
	// once the caller's context no longer does (see cancelAtFal).
	recordTimeout time.Duration
}

// NewCanceller returns a Canceller. riverClient need not be started: it
// only cancels jobs.
func NewCanceller(pool *pgxpool.Pool, riverClient *river.Client[pgx.Tx], client Fal, logger *slog.Logger) *Canceller {
	if logger == nil {
		logger = slog.Default()
	}
	return &Canceller{pool: pool, river: riverClient, fal: client, logger: logger,
		publisher:     notify.NewPublisher(pool, store.GenerationFinishedChannel, logger),
		recordTimeout: Config{}.withDefaults().recordTimeout()}
}

// WithPublisher makes c announce the generations it finishes with p, the
// process's one, rather than with a publisher of its own.
func (c *Canceller) WithPublisher(p *notify.Publisher) *Canceller {
	c.publisher = p
	return c
}

// WithMetrics makes c count the generations it finishes and the results it
// applies in m.
func (c *Canceller) WithMetrics(m *metrics.Metrics) *Canceller {
	c.metrics = m
	return c
}

// Cancel cancels generation id and returns it as it then is.
//
//   - Queued, with no submission under way: its River job is cancelled and
//     it becomes cancelled, its message saying how many earlier submissions
//     fal may have accepted, if any (their answers were lost).
//   - Queued, with a submission under way: it becomes cancelled; the worker
//     cancels the request at fal as soon as fal's answer names it.
//   - Submitted: the request is cancelled at fal. When fal accepts (202) or
//     does not know the request, the generation becomes cancelled; when fal
//     had already completed it, its result is applied instead and Cancel
//     returns ErrFinished, unless that result says the request was
//     cancelled (an earlier cancel reached fal but its answer was lost):
//     the generation then becomes cancelled.
//   - Finished: nothing changes; Cancel returns ErrFinished.
//
// A result that reaches Easel after the generation was cancelled is stored
// as a webhook event with outcome "late" and never changes it.
//
// The error wraps ErrFinished, with the id, when the generation had
// finished; store.ErrNotFound for an unknown id; and ErrFalUnavailable
// and the fal client's error when fal did not confirm the cancel, the
// generation then unchanged (see ErrCancelMayHaveReachedFal).
func (c *Canceller) Cancel(ctx context.Context, id uuid.UUID) (*store.Generation, error) {
	var (
		gen       *store.Generation
		cancelled bool
	)
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		var err error
		if gen, err = store.LockGeneration(ctx, tx, id); err != nil {
			return err
		}
		if gen.Status != store.StatusQueued || gen.FalRequestID != nil {
			return nil // finished, or a request at fal to cancel first
		}
		message := queuedCancelMessage(gen)
		if !submissionUnderWay(gen) {
			if err := c.cancelJobs(ctx, tx, id); err != nil {
				return err
			}
		}
		if cancelled, err = store.Cancel(ctx, tx, id, message); err != nil {
			return err
		}
		gen, err = store.GetGeneration(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cancel generation %s: %w", id, err)
	}

	switch {
	case cancelled:
		c.publisher.Publish(id.String())
		c.metrics.GenerationFinished(gen)
		c.logger.Info("generation cancelled", "generation_id", id, "message", deref(gen.ErrorMessage))
		return gen, nil
	case gen.Status.Terminal():
		return gen, finishedError(id)
	}
	return c.cancelAtFal(ctx, gen)
}

// submissionUnderWay reports whether queued generation gen, read locked,
// has a submit call under way: its latest submission was counted
// (ReserveSubmission stamps submitting_at and updated_at with the same
// transaction time) and nothing was written since, neither fal's refusal
// nor a lost answer (RecordSubmitError). Its worker records the answer
// once the call returns, and so cannot have started one since: that takes
// the lock this transaction holds. A worker that died mid-call also leaves
// it under way, its job running until River rescues it.
func submissionUnderWay(gen *store.Generation) bool {
	return gen.FalSubmissions > 0 && gen.SubmittingAt != nil && !gen.UpdatedAt.After(*gen.SubmittingAt)
}

// queuedCancelMessage is the error message of queued generation gen,
// cancelled.
func queuedCancelMessage(gen *store.Generation) string {
	switch {
	case submissionUnderWay(gen):
		return "cancelled while its submission to fal was under way"
	case gen.FalSubmissions > 0:
		return fmt.Sprintf("cancelled before it was submitted to fal again: fal may have accepted, and may bill, "+
			"%d earlier submission(s) whose answers never reached Easel; a result that comes for one is kept, not applied",
			gen.FalSubmissions)
	}
	return "cancelled before it was submitted to fal"
}

// cancelAtFal cancels the request of a submitted generation. fal is first
// asked for the request's status, which the cancelled generation keeps
// (statusBeforeCancel): whether fal was running it, and may bill it. That
// costs the cancel one more call to fal, bounded to a fraction of
// recordTimeout; a failure to get the status never stops the cancel.
//
// Once fal is asked, the caller going away (an HTTP client hanging up)
// must not stop the answer being recorded: a request fal cancelled ends
// COMPLETED with a client-cancelled error and no webhook. So from then on
// it runs on a context that the caller's cancellation does not reach,
// bounded as the workers bound recording fal's answers.
func (c *Canceller) cancelAtFal(ctx context.Context, gen *store.Generation) (*store.Generation, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.recordTimeout)
	defer cancel()
	logger := c.logger.With("generation_id", gen.ID, "fal_request_id", *gen.FalRequestID)
	seen := statusBeforeCancel(ctx, c.fal, logger, gen, statusBeforeCancelTimeout(c.recordTimeout))
	outcome, err := cancelRequest(ctx, c.fal, deref(gen.FalCancelURL), gen.EndpointID, *gen.FalRequestID)
	if err != nil {
		// The caller logs it: an error it answers for.
		if cancelMayHaveReachedFal(err) {
			return nil, fmt.Errorf("cancel generation %s: %w: %w: %w", gen.ID, ErrFalUnavailable, ErrCancelMayHaveReachedFal, err)
		}
		return nil, fmt.Errorf("cancel generation %s: %w: %w", gen.ID, ErrFalUnavailable, err)
	}

	if outcome == fal.CancelAlreadyCompleted {
		return c.applyCompleted(ctx, logger, gen)
	}

	message := "cancelled at fal"
	if outcome == fal.CancelNotFound {
		message = "cancelled; fal did not know the request"
	}
	changed, err := store.CancelAtFal(ctx, c.pool, gen.ID, *gen.FalRequestID, message, seen)
	if err != nil {
		return nil, fmt.Errorf("cancel generation %s: %w", gen.ID, err)
	}
	if !changed {
		// A webhook finished it while fal was being asked.
		return c.reload(ctx, gen.ID, finishedError(gen.ID))
	}
	c.publisher.Publish(gen.ID.String())
	logger.Info("generation cancelled", "cancel_outcome", outcome)
	c.metrics.GenerationFinished(&store.Generation{ID: gen.ID, Status: store.StatusCancelled})
	return c.reload(ctx, gen.ID, nil)
}

// applyCompleted fetches and applies the result of gen, whose request fal
// answered the cancel with ALREADY_COMPLETED. The result may be that of an
// earlier cancel whose answer was lost (client_cancelled): gen is then
// cancelled, and so is the cancel. Otherwise the cancel came too late, and
// it returns ErrFinished; when the result cannot be fetched, gen stays
// submitted with the failure noted on it, as the reconciler notes it,
// which fetches it later.
func (c *Canceller) applyCompleted(ctx context.Context, logger *slog.Logger, gen *store.Generation) (*store.Generation, error) {
	payload, err := fetchResult(ctx, c.fal, gen)
	if err != nil {
		err = afterAlreadyCompleted(err)
		message := "fal reported the request finished (it answered the cancel ALREADY_COMPLETED), so it was likely paid for, " +
			"but its result could not be fetched yet; the reconciler will fetch it: " + err.Error()
		if err := store.RecordResultError(ctx, c.pool, gen.ID, store.ErrorCodeResultUnavailable, message); err != nil {
			return nil, fmt.Errorf("cancel generation %s: %w", gen.ID, err)
		}
		logger.Warn("cancel came too late: fal had completed the request; its result could not be fetched yet",
			"error_code", store.ErrorCodeResultUnavailable, "error", err)
		return c.reload(ctx, gen.ID, finishedError(gen.ID))
	}
	applied, finished, err := applyResult(ctx, c.pool, c.publisher, gen.ID, payload)
	if err != nil {
		return nil, fmt.Errorf("cancel generation %s: %w", gen.ID, err)
	}
	if finished != nil {
		c.metrics.ResultApplied(metrics.ResultFromCancel)
		c.metrics.GenerationFinished(finished)
		if finished.Status == store.StatusCancelled {
			logger.Info("generation cancelled: fal's result says an earlier cancel reached it")
			return finished, nil
		}
		if finished.Status == store.StatusFailed {
			LogResultFailure(logger, deref(finished.ErrorCode), deref(finished.ErrorMessage))
		}
	}
	logger.Info("cancel came too late: fal had completed the request; result applied", "outcome", string(applied))
	return c.reload(ctx, gen.ID, finishedError(gen.ID))
}

// cancelMayHaveReachedFal reports whether err, from fal's client, leaves
// open that fal received the cancel: all but a request never sent, a
// connection never made, and a 4xx answer, which is fal refusing it.
func cancelMayHaveReachedFal(err error) bool {
	var apiErr *fal.APIError
	switch {
	case errors.Is(err, fal.ErrInvalidRequest), neverConnected(err):
		return false
	case errors.As(err, &apiErr):
		return apiErr.StatusCode >= http.StatusInternalServerError
	}
	return true
}

// finishedError is the error of a cancel of generation id, which had
// finished.
func finishedError(id uuid.UUID) error {
	return fmt.Errorf("cancel generation %s: %w", id, ErrFinished)
}

func (c *Canceller) reload(ctx context.Context, id uuid.UUID, result error) (*store.Generation, error) {
	gen, err := store.GetGeneration(ctx, c.pool, id)
	if err != nil {
		return nil, fmt.Errorf("cancel generation %s: %w", id, err)
	}
	return gen, result
}

// cancelJobs cancels the generation's submit job, in tx. It is only called
// while no submission is under way (submissionUnderWay), so a running job
// is at most waiting for a slot or deciding whether to submit again, and
// cancelling it interrupts no call to fal.
func (c *Canceller) cancelJobs(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
	params := river.NewJobListParams().
		Kinds(SubmitGenerationArgs{}.Kind()).
		States(rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
			rivertype.JobStateRunning, rivertype.JobStateScheduled).
		Where("args @> @args::jsonb", river.NamedArgs{"args": fmt.Sprintf(`{"generation_id": %q}`, id)})
	res, err := c.river.JobListTx(ctx, tx, params)
	if err != nil {
		return fmt.Errorf("find submit job: %w", err)
	}
	for _, job := range res.Jobs {
		if _, err := c.river.JobCancelTx(ctx, tx, job.ID); err != nil {
			return fmt.Errorf("cancel submit job %d: %w", job.ID, err)
		}
	}
	return nil
}
