package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/store"
)

// SubmitGenerationArgs submits one generation to fal.
type SubmitGenerationArgs struct {
	GenerationID uuid.UUID `json:"generation_id"`
}

// Kind is River's name for the job.
func (SubmitGenerationArgs) Kind() string { return "submit_generation" }

// InsertOpts bounds retries: a submission that keeps failing for about a day
// of River's backoff is failed rather than retried forever.
func (SubmitGenerationArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: submitMaxAttempts}
}

const submitMaxAttempts = 15

// Submitter is the part of fal's client the worker needs.
type Submitter interface {
	Submit(ctx context.Context, req fal.SubmitRequest) (*fal.QueueResponse, error)
}

// SubmitGenerationWorker sends a queued generation to fal's queue with a
// webhook URL pointing back at Easel.
type SubmitGenerationWorker struct {
	river.WorkerDefaults[SubmitGenerationArgs]

	pool      *pgxpool.Pool
	fal       Submitter
	publicURL string
	logger    *slog.Logger
}

// NewSubmitGenerationWorker returns a worker; publicURL is the base URL fal
// can reach Easel at (EASEL_PUBLIC_URL).
func NewSubmitGenerationWorker(pool *pgxpool.Pool, submitter Submitter, publicURL string, logger *slog.Logger) *SubmitGenerationWorker {
	return &SubmitGenerationWorker{pool: pool, fal: submitter, publicURL: publicURL, logger: logger}
}

// WebhookURL is where fal reports the outcome of generation id.
func WebhookURL(publicURL string, id uuid.UUID) string {
	return publicURL + "/webhooks/fal/" + url.PathEscape(id.String())
}

func (w *SubmitGenerationWorker) Work(ctx context.Context, job *river.Job[SubmitGenerationArgs]) error {
	id := job.Args.GenerationID
	logger := w.logger.With("generation_id", id, "job_id", job.ID, "attempt", job.Attempt)

	gen, err := store.MarkSubmitting(ctx, w.pool, id)
	if errors.Is(err, store.ErrNotFound) {
		// Already submitted, finished by an early webhook, or cancelled:
		// submitting again would pay twice.
		logger.Info("generation no longer queued; nothing to submit")
		return nil
	}
	if err != nil {
		return err
	}

	resp, err := w.fal.Submit(ctx, fal.SubmitRequest{
		EndpointID: gen.EndpointID,
		Input:      gen.Input,
		WebhookURL: WebhookURL(w.publicURL, id),
	})
	if err != nil {
		return w.submitFailed(ctx, logger, job, err)
	}

	err = store.RecordSubmitted(ctx, w.pool, id, store.Submission{
		RequestID:        resp.RequestID,
		GatewayRequestID: resp.GatewayRequestID,
		StatusURL:        resp.StatusURL,
		ResponseURL:      resp.ResponseURL,
		CancelURL:        resp.CancelURL,
	})
	if err != nil {
		return fmt.Errorf("submit generation %s: fal accepted request %s: %w", id, resp.RequestID, err)
	}
	logger.Info("generation submitted to fal", "fal_request_id", resp.RequestID)
	return nil
}

// submitFailed decides between retrying (River's backoff) and failing the
// generation for good.
func (w *SubmitGenerationWorker) submitFailed(ctx context.Context, logger *slog.Logger, job *river.Job[SubmitGenerationArgs], submitErr error) error {
	id := job.Args.GenerationID
	code, retryable := classifySubmitError(submitErr)
	message := submitErr.Error()

	if retryable && job.Attempt < job.MaxAttempts {
		logger.Warn("submit to fal failed; will retry", "error", message, "error_code", code)
		if err := store.RecordSubmitError(ctx, w.pool, id, code, message); err != nil {
			return errors.Join(submitErr, err)
		}
		return fmt.Errorf("submit generation %s: %w", id, submitErr)
	}

	logger.Error("submit to fal failed; generation failed", "error", message, "error_code", code)
	if _, err := store.Fail(ctx, w.pool, id, code, message); err != nil {
		return errors.Join(submitErr, err)
	}
	return nil
}

// classifySubmitError maps a submit error to an error code and whether a
// later attempt may succeed. Transport errors are retryable: fal never saw
// the request or we cannot know, and the crash-window accounting covers it.
func classifySubmitError(err error) (code string, retryable bool) {
	var apiErr *fal.APIError
	if !errors.As(err, &apiErr) {
		return "fal_unreachable", true
	}
	switch {
	case apiErr.StatusCode == 401 || apiErr.StatusCode == 403:
		return "fal_auth", false
	case apiErr.Retryable():
		return fmt.Sprintf("fal_http_%d", apiErr.StatusCode), true
	default:
		return "fal_rejected", false
	}
}
