package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/easelhq/easel/callbacks"
	"github.com/easelhq/easel/metrics"
	"github.com/easelhq/easel/resource"
	"github.com/easelhq/easel/store"
)

// QueueCallbacks is the River queue of callback deliveries, apart from the
// submissions so that slow receivers never hold up work that fal bills.
const QueueCallbacks = "callbacks"

// DefaultCallbackWorkers bounds concurrent deliveries in one process when
// Config.CallbackWorkers is zero (EASEL_CALLBACK_WORKERS).
const DefaultCallbackWorkers = 8

// callbackWorkers is c.CallbackWorkers, or its default.
func (c Config) callbackWorkers() int {
	if c.CallbackWorkers <= 0 {
		return DefaultCallbackWorkers
	}
	return c.CallbackWorkers
}

// callbackRetryDelays are the waits after each failed attempt: short at
// first, for a receiver that blipped, then spreading out to 23 h 51 min in
// all, after which the delivery is abandoned: a day of trying, as the
// Standard Webhooks guidance suggests.
var callbackRetryDelays = []time.Duration{
	10 * time.Second, time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 8 * time.Hour,
}

// callbackMaxRetryAfter caps the wait a receiver's Retry-After can ask for:
// the schedule's longest delay. A receiver answering every attempt with a
// longer one stretches the 11 attempts over 80 hours at most.
var callbackMaxRetryAfter = slices.Max(callbackRetryDelays)

// CallbackDeliveryArgs delivers the callback owed for a finished generation.
type CallbackDeliveryArgs struct {
	// DeliveryID names the callback_deliveries row; it is the webhook-id of
	// every attempt.
	DeliveryID   uuid.UUID `json:"delivery_id"`
	GenerationID uuid.UUID `json:"generation_id"`
}

// Kind is River's name for the job.
func (CallbackDeliveryArgs) Kind() string { return "callback_delivery" }

// InsertOpts puts deliveries on their own queue, with one attempt more
// than there are retry delays.
func (CallbackDeliveryArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueCallbacks, MaxAttempts: len(callbackRetryDelays) + 1}
}

// CallbackDeliveryWorker posts a finished generation, rendered as in the
// API at the time of the attempt, to its callback URL, signed with its
// client's secrets, and records every attempt on the delivery's row. A 2xx
// delivers it; a 410 Gone, or a URL that is invalid or whose address is
// not allowed, abandons it (the River job is cancelled); anything else is
// retried after 10 s, 1 min, 5 min, 15 min, 30 min, 1 h, 2 h, 4 h, 8 h and
// 8 h (11 attempts over about a day), or later when a receiver answering 429
// or 503 asks for more with Retry-After, until the attempts run out (the
// job is discarded).
type CallbackDeliveryWorker struct {
	river.WorkerDefaults[CallbackDeliveryArgs]

	pool      *pgxpool.Pool
	deliverer *callbacks.Deliverer
	metrics   *metrics.Metrics
	// recordTimeout bounds recording an attempt after the job's own time
	// may have run out.
	recordTimeout time.Duration
	logger        *slog.Logger
	// notBefore holds, by job ID, when a receiver's Retry-After lets the
	// job's next attempt come, from Work to the NextRetry River calls as
	// soon as Work returns the attempt's error: NextRetry is given the job
	// alone. An entry is stored only for an attempt that will be retried,
	// and River (v0.51) calls NextRetry for every such job, which removes
	// it; a River ErrorHandler that cancelled jobs would break that.
	notBefore sync.Map // int64 → time.Time
}

// NewCallbackDeliveryWorker returns a worker that delivers with
// cfg.Callbacks. Without one, every attempt fails with callbacks.ErrNoSecret
// and is retried, so that deliveries resume once the secret is configured.
func NewCallbackDeliveryWorker(pool *pgxpool.Pool, cfg Config) *CallbackDeliveryWorker {
	cfg = cfg.withDefaults()
	deliverer := cfg.Callbacks
	if deliverer == nil {
		deliverer = callbacks.NewDeliverer(nil, &callbacks.Policy{})
	}
	return &CallbackDeliveryWorker{pool: pool, deliverer: deliverer, metrics: cfg.Metrics, recordTimeout: cfg.recordTimeout(), logger: cfg.Logger}
}

// NextRetry follows the schedule of CallbackDeliveryWorker, each delay
// shortened by up to a tenth at random so that the deliveries a receiver
// missed during an outage do not all come back at once, or waits as long
// as the receiver's Retry-After asked, up to 8 hours, when that is later: never sooner
// than either, as senders of Standard Webhooks usually do.
//
// An error rather than river.JobSnooze carries the wait: a snooze would
// not count the attempt (River takes it back), so a receiver answering
// every attempt with 429 would keep its callback for ever, and River would
// record no error.
func (w *CallbackDeliveryWorker) NextRetry(job *river.Job[CallbackDeliveryArgs]) time.Time {
	delay := callbackRetryDelays[min(max(job.Attempt, 1), len(callbackRetryDelays))-1]
	next := time.Now().Add(delay - rand.N(delay/10))
	if v, ok := w.notBefore.LoadAndDelete(job.ID); ok {
		if notBefore := v.(time.Time); notBefore.After(next) {
			return notBefore
		}
	}
	return next
}

func (w *CallbackDeliveryWorker) Work(ctx context.Context, job *river.Job[CallbackDeliveryArgs]) error {
	args := job.Args
	logger := w.logger.With("generation_id", args.GenerationID, "callback_delivery_id", args.DeliveryID,
		"job_id", job.ID, "attempt", job.Attempt)

	delivery, err := store.GetCallbackDelivery(ctx, w.pool, args.DeliveryID)
	if errors.Is(err, store.ErrNotFound) {
		logger.Warn("callback delivery no longer exists; its generation was deleted")
		return nil
	}
	if err != nil {
		return err
	}
	if delivery.DeliveredAt != nil || delivery.AbandonedAt != nil {
		return nil // a run River rescued after the attempt that ended it
	}
	if delivery.JobID == nil || *delivery.JobID != job.ID {
		// Asked for again (docs/CALLBACKS.md): the delivery is another
		// job's now, or will be; two must never post it at once.
		logger.Info("callback delivery is no longer this job's; nothing to do")
		return nil
	}
	gen, err := store.GetGeneration(ctx, w.pool, delivery.GenerationID)
	if err != nil {
		return err
	}
	if gen.FalRequestID != nil {
		logger = logger.With("fal_request_id", *gen.FalRequestID)
	}
	if u, err := url.Parse(delivery.URL); err == nil {
		// Only the host: a callback URL's query often carries the
		// receiver's own token.
		logger = logger.With("callback_host", u.Host)
	}
	images, err := store.ListImages(ctx, w.pool, gen.ID)
	if err != nil {
		return err
	}
	body, err := json.Marshal(resource.NewGeneration(gen, images))
	if err != nil {
		return fmt.Errorf("render generation %s for its callback: %w", gen.ID, err)
	}

	// Counted before the request is sent: a process that dies during the
	// attempt leaves it counted, and the row saying no outcome came.
	started, err := store.StartCallbackAttempt(ctx, w.pool, delivery.ID, job.ID)
	if err != nil {
		return err
	}
	if !started {
		return nil // ended or asked for again meanwhile
	}
	attempt := w.deliverer.Deliver(ctx, callbacks.Delivery{
		ID: delivery.ID.String(), Client: gen.Client, URL: delivery.URL, Body: body,
		// The row's count as read before this attempt counted itself:
		// informational, for the receiver's logs.
		GenerationID: gen.ID.String(), Attempt: delivery.Attempts + 1,
	})
	outcome := callbackOutcome(attempt, job.Attempt >= job.MaxAttempts)
	// The record keeps the start of the receiver's body; logs and River's
	// errors get attempt.Err, which has only its status, since receivers
	// may echo secrets in their answers.
	record := store.CallbackAttempt{
		Status:    attempt.StatusCode,
		Error:     attempt.Record(),
		Delivered: outcome == metrics.CallbackDelivered,
		Abandoned: outcome != metrics.CallbackDelivered && outcome != metrics.CallbackRetrying,
	}
	if outcome == metrics.CallbackRetrying && attempt.RetryAfter > 0 {
		w.notBefore.Store(job.ID, time.Now().Add(min(attempt.RetryAfter, callbackMaxRetryAfter)))
	}
	// The attempt happened even if the job's context ran out meanwhile.
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.recordTimeout)
	defer cancel()
	if err := store.FinishCallbackAttempt(recordCtx, w.pool, delivery.ID, record); err != nil {
		return errors.Join(attempt.Err, err)
	}
	w.metrics.CallbackAttempted(outcome)

	if outcome == metrics.CallbackDelivered {
		logger.Info("callback delivered", "status", attempt.StatusCode)
		return nil
	}
	attrs := []any{"status", attempt.StatusCode, "error", attempt.Err.Error(), "body_bytes", attempt.BodyBytes}
	if attempt.RetryAfter > 0 {
		attrs = append(attrs, "retry_after", attempt.RetryAfter.String())
	}
	err = fmt.Errorf("deliver callback of generation %s: %w", gen.ID, attempt.Err)
	switch outcome {
	case metrics.CallbackRetrying:
		logger.Warn("callback not delivered; will retry", attrs...)
		return err
	case metrics.CallbackExhausted:
		logger.Error("callback not delivered after a day of attempts; abandoned", attrs...)
		return err
	default:
		logger.Error("callback refused; abandoned", append(attrs, "outcome", outcome)...)
		return river.JobCancel(err)
	}
}

func callbackOutcome(a callbacks.Attempt, last bool) string {
	switch {
	case a.Err == nil:
		return metrics.CallbackDelivered
	case a.Permanent && a.StatusCode == 0:
		// Not sent: the URL is invalid, or its address not allowed.
		return metrics.CallbackRefused
	case a.Permanent:
		// The receiver answered 410 Gone.
		return metrics.CallbackRejected
	case last:
		return metrics.CallbackExhausted
	default:
		return metrics.CallbackRetrying
	}
}
