package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/internal/notify"
	"github.com/easelhq/easel/store"
)

// ErrFinished is returned by Canceller.Cancel for a generation that finished
// before it could be cancelled.
var ErrFinished = errors.New("generation already finished")

// ErrFalUnavailable is wrapped, with the fal client's error, by the error
// Canceller.Cancel returns when fal could not be asked to cancel a request:
// unreachable, or answering with an error. Other errors are the database's.
var ErrFalUnavailable = errors.New("fal could not be asked to cancel")

// Canceller cancels generations.
type Canceller struct {
	pool      *pgxpool.Pool
	river     *river.Client[pgx.Tx]
	fal       Fal
	publisher *notify.Publisher
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

// Cancel cancels generation id and returns it as it then is.
//
//   - Queued, with no submission under way: its River job is cancelled and
//     it becomes cancelled.
//   - Queued, with a submission under way: it becomes cancelled; the worker
//     cancels the request at fal as soon as fal's answer names it.
//   - Submitted: the request is cancelled at fal. When fal accepts (202) or
//     does not know the request, the generation becomes cancelled; when fal
//     had already completed it, its result is applied instead and Cancel
//     returns ErrFinished.
//   - Finished: nothing changes; Cancel returns ErrFinished.
//
// A result that reaches Easel after the generation was cancelled is stored
// as a webhook event with outcome "late" and never changes it.
//
// It returns an error wrapping store.ErrNotFound for an unknown id, and one
// wrapping ErrFalUnavailable and the fal client's error when fal could not
// be asked; the generation is then unchanged.
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
		message := "cancelled before it was submitted to fal"
		if gen.FalSubmissions == 0 {
			if err := c.cancelJobs(ctx, tx, id); err != nil {
				return err
			}
		} else {
			message = "cancelled while its submission to fal was under way"
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
		c.logger.Info("generation cancelled", "generation_id", id, "message", deref(gen.ErrorMessage))
		return gen, nil
	case gen.Status.Terminal():
		return gen, ErrFinished
	}
	return c.cancelAtFal(ctx, gen)
}

// cancelAtFal cancels the request of a submitted generation.
//
// Once fal is asked, the caller going away (an HTTP client hanging up)
// must not stop the answer being recorded: a request fal cancelled ends
// COMPLETED with a client-cancelled error and no webhook, which the
// reconciler would record as a failure. So from then on it runs on a
// context that the caller's cancellation does not reach, bounded as the
// workers bound recording fal's answers.
func (c *Canceller) cancelAtFal(ctx context.Context, gen *store.Generation) (*store.Generation, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.recordTimeout)
	defer cancel()
	logger := c.logger.With("generation_id", gen.ID, "fal_request_id", *gen.FalRequestID)
	cancelURL := deref(gen.FalCancelURL)
	if cancelURL == "" {
		_, _, cancelURL = c.fal.RequestURLs(gen.EndpointID, *gen.FalRequestID)
	}
	outcome, err := c.fal.Cancel(ctx, cancelURL)
	if err != nil {
		logger.Warn("could not cancel the request at fal; generation unchanged", "error", err)
		return nil, fmt.Errorf("cancel generation %s: %w: %w", gen.ID, ErrFalUnavailable, err)
	}

	if outcome == fal.CancelAlreadyCompleted {
		payload, err := fetchResult(ctx, c.fal, gen)
		if err != nil {
			// The reconciler fetches it later.
			logger.Warn("fal had already completed the request; its result could not be fetched yet", "error", err)
			return gen, ErrFinished
		}
		applied, err := applyResult(ctx, c.pool, c.publisher, gen.ID, payload)
		if err != nil {
			return nil, err
		}
		logger.Info("cancel came too late: fal had completed the request; result applied", "outcome", applied)
		return c.reload(ctx, gen.ID, ErrFinished)
	}

	message := "cancelled at fal"
	if outcome == fal.CancelNotFound {
		message = "cancelled; fal did not know the request"
	}
	changed, err := store.Cancel(ctx, c.pool, gen.ID, message)
	if err != nil {
		return nil, fmt.Errorf("cancel generation %s: %w", gen.ID, err)
	}
	if !changed {
		// A webhook finished it while fal was being asked.
		return c.reload(ctx, gen.ID, ErrFinished)
	}
	c.publisher.Publish(gen.ID.String())
	logger.Info("generation cancelled", "cancel_outcome", outcome)
	return c.reload(ctx, gen.ID, nil)
}

func (c *Canceller) reload(ctx context.Context, id uuid.UUID, result error) (*store.Generation, error) {
	gen, err := store.GetGeneration(ctx, c.pool, id)
	if err != nil {
		return nil, fmt.Errorf("cancel generation %s: %w", id, err)
	}
	return gen, result
}

// cancelJobs cancels the generation's submit job, in tx. It is only called
// while no submission is under way, so a running job is at most waiting for
// a slot, and cancelling it interrupts no call to fal.
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
