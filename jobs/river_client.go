package jobs

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/easelhq/easel/callbacks"
	"github.com/easelhq/easel/metrics"
	"github.com/easelhq/easel/notify"
	"github.com/easelhq/easel/store"
)

// Defaults of the Config durations, as documented for their variables.
const (
	DefaultPollAfter   = 2 * time.Minute
	DefaultTimeout     = 30 * time.Minute
	DefaultRescueAfter = time.Minute
)

// QueueReconcile is the River queue of the reconciler, apart from the
// submissions so that a backlog waiting for a slot never delays it.
const QueueReconcile = "reconcile"

// Config configures the River client that runs Easel's workers.
type Config struct {
	// Fal is fal's queue API.
	Fal Fal

	// PublicURL is the base URL fal calls back (EASEL_PUBLIC_URL).
	PublicURL string

	// MaxWorkers bounds concurrent submissions (EASEL_WORKERS).
	MaxWorkers int

	// Limits cap the generations in flight at fal (FAL_MAX_INFLIGHT,
	// EASEL_CLIENT_MAX_INFLIGHT), across every process on the database.
	Limits store.InflightLimits

	// PollAfter is how long a submitted generation may go without a webhook
	// before the reconciler asks fal about it, and how long a submission
	// whose outcome was never learnt is given for its webhook before the
	// generation is submitted again (EASEL_POLL_AFTER). Zero means
	// DefaultPollAfter.
	PollAfter time.Duration

	// Timeout is how long after its submission fal may take to finish a
	// generation before it is failed with store.ErrorCodeTimeout and
	// cancelled at fal (EASEL_TIMEOUT). Zero means DefaultTimeout.
	Timeout time.Duration

	// RescueAfter is how long a job may run before River deems its process
	// dead and runs it again (River's RescueStuckJobsAfter,
	// EASEL_RESCUE_AFTER). Every job is cancelled after half of it, so that
	// a live job is never run twice at once. Zero means DefaultRescueAfter.
	RescueAfter time.Duration

	// Callbacks delivers the callbacks owed to callers. Nil fails each
	// attempt with callbacks.ErrNoSecret, retried, until one is configured.
	//
	// The client only works the delivery jobs; a CallbackDispatcher inserts
	// them, one per callback the database owes. A process that starts the
	// client must also run
	// NewCallbackDispatcher(pool, client, logger).Run(ctx) until it stops
	// the client, as easel serve does; without one anywhere on the database
	// no callback is ever sent. Any number may run.
	Callbacks *callbacks.Deliverer
	// CallbackWorkers bounds concurrent callback deliveries in one process
	// (EASEL_CALLBACK_WORKERS); zero means DefaultCallbackWorkers.
	CallbackWorkers int
	// Metrics observes job durations, callback outcomes and the time to
	// complete of the generations the reconciler completes; nil observes
	// nothing.
	Metrics *metrics.Metrics
	// Middleware is added to River's worker middleware, such as tracing.
	Middleware []rivertype.Middleware
	// Publisher announces, on store.GenerationFinishedChannel, each
	// generation the workers finish, once it has committed; share the
	// process's one, so that its announcements are batched together. Nil
	// gives the workers one of their own on their pool: a generation is
	// never finished unannounced.
	Publisher *notify.Publisher

	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxWorkers <= 0 {
		c.MaxWorkers = 16
	}
	if c.PollAfter <= 0 {
		c.PollAfter = DefaultPollAfter
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.RescueAfter <= 0 {
		c.RescueAfter = DefaultRescueAfter
	}
	return c
}

// publisher returns c.Publisher, or else a new one on pool.
func (c Config) publisher(pool *pgxpool.Pool) *notify.Publisher {
	if c.Publisher != nil {
		return c.Publisher
	}
	return notify.NewPublisher(pool, store.GenerationFinishedChannel, c.Logger)
}

// jobTimeout bounds every job: half of RescueAfter.
func (c Config) jobTimeout() time.Duration { return c.RescueAfter / 2 }

// recordTimeout bounds recording what a job did after its own time may have
// run out (fal accepted a request, a callback was attempted): a quarter of
// RescueAfter, so that a job's timeout and its record together end before
// River deems the job stuck and runs it again.
func (c Config) recordTimeout() time.Duration { return c.RescueAfter / 4 }

// NewRiverClient returns a River client that runs Easel's workers on pool,
// with the reconciler as a periodic job of whichever client is leader.
// Start it to work jobs; a client that is never started can still insert
// and cancel. Fal and PublicURL are required even so, since any client can
// be started: an error names each field the workers cannot run with.
//
// Callbacks are delivered only while a CallbackDispatcher runs beside a
// started client (see Config.Callbacks).
func NewRiverClient(pool *pgxpool.Pool, cfg Config) (*river.Client[pgx.Tx], error) {
	cfg, err := cfg.checked(pool)
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cfg.Publisher = cfg.publisher(pool) // one for all the workers
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, NewSubmitGenerationWorker(pool, cfg)); err != nil {
		return nil, fmt.Errorf("register workers: %w", err)
	}
	if err := river.AddWorkerSafely(workers, NewReconcileWorker(pool, cfg)); err != nil {
		return nil, fmt.Errorf("register workers: %w", err)
	}
	if err := river.AddWorkerSafely(workers, NewCallbackDeliveryWorker(pool, cfg)); err != nil {
		return nil, fmt.Errorf("register workers: %w", err)
	}
	riverConfig := RiverConfig(cfg, workers)
	riverConfig.PeriodicJobs = []*river.PeriodicJob{reconcilePeriodicJob(cfg.PollAfter)}
	client, err := river.NewClient(riverpgxv5.New(pool), riverConfig)
	if err != nil {
		return nil, fmt.Errorf("create River client: %w", err)
	}
	return client, nil
}
