package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/easelhq/easel/internal/logthrottle"
	"github.com/easelhq/easel/metrics"
	"github.com/easelhq/easel/store"
)

const (
	// callbackDispatchInterval is how often a worker process looks for
	// callbacks that have no job yet: the most a callback waits before its
	// first attempt. The query reads a partial index of those rows only,
	// empty most of the time.
	callbackDispatchInterval = time.Second
	// callbackDispatchBatch bounds the jobs inserted in one transaction.
	callbackDispatchBatch = 100
	// callbackSweepInterval is how often a dispatcher looks for deliveries
	// whose River job will never run again. The search reads a partial
	// index of the deliveries not ended, and their jobs; it runs rarely
	// because such a delivery is the rare result of a process dying at its
	// last attempt or of a job cancelled or deleted by hand.
	callbackSweepInterval = 5 * time.Minute
	// callbackSweepBatch bounds the deliveries abandoned in one statement.
	callbackSweepBatch = 500
	// dispatchLogEvery is how often at most a dispatcher logs that it
	// cannot dispatch: it tries every callbackDispatchInterval, and while
	// the database is down each try fails alike (30 WARN lines in a drill's
	// 30 s outage).
	dispatchLogEvery = time.Minute
)

// CallbackDispatcher inserts the River job that delivers each callback the
// database owes.
//
// The callback is owed (a callback_deliveries row) from the transaction
// that finishes a generation with a callback_url, by a trigger, so that no
// code path finishing a generation can forget it; River jobs cannot be
// inserted by SQL triggers, hence this loop. It claims rows with SKIP
// LOCKED and inserts their jobs in the same transaction, so any number of
// processes can run it and each callback gets exactly one job.
//
// It also abandons, every callbackSweepInterval, the deliveries whose job
// River will never run again (discarded, cancelled, deleted) though they
// were neither delivered nor abandoned, logging each and counting it as
// exhausted, so that no delivery stays pending for good.
//
// A River client from NewRiverClient works the delivery jobs but never
// inserts them: a process that starts one should run a dispatcher beside
// it, as easel serve does, or callbacks wait for one that does.
type CallbackDispatcher struct {
	pool    *pgxpool.Pool
	client  *river.Client[pgx.Tx]
	metrics *metrics.Metrics
	logger  *slog.Logger
	// failures is Run's, which logs each Dispatch through it.
	failures *dispatchFailures
}

// NewCallbackDispatcher returns a dispatcher inserting jobs with client.
func NewCallbackDispatcher(pool *pgxpool.Pool, client *river.Client[pgx.Tx], logger *slog.Logger) *CallbackDispatcher {
	if logger == nil {
		logger = slog.Default()
	}
	return &CallbackDispatcher{pool: pool, client: client, logger: logger, failures: newDispatchFailures(time.Now)}
}

// WithMetrics counts the deliveries the dispatcher abandons with m.
func (d *CallbackDispatcher) WithMetrics(m *metrics.Metrics) *CallbackDispatcher {
	d.metrics = m
	return d
}

// Run dispatches owed callbacks, and abandons orphaned ones, until ctx is
// done.
func (d *CallbackDispatcher) Run(ctx context.Context) {
	ticker := time.NewTicker(callbackDispatchInterval)
	defer ticker.Stop()
	var swept time.Time
	for {
		if time.Since(swept) >= callbackSweepInterval {
			swept = time.Now()
			if _, err := d.abandonOrphans(ctx); err != nil && ctx.Err() == nil {
				d.logger.Warn("abandon orphaned callbacks", "error", err)
			}
		}
		n, err := d.Dispatch(ctx)
		if ctx.Err() == nil {
			d.failures.log(d.logger, err)
		}
		if n == callbackDispatchBatch {
			continue // more are waiting
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// dispatchFailures throttles the WARN "dispatch callbacks" of a
// dispatcher's failed runs, and says when a run succeeds again.
//
// A failure is a WARN at once, then at most once a dispatchLogEvery, with
// repeated, the failures the line stands for (itself included), and since,
// when the first of them came, once it stands for more than itself; the
// others are DEBUG. The first run that succeeds after failures of which a
// WARN was logged is an Info "database reachable again", with failures
// (since the last run that succeeded) and down_for, so that the last line
// about the dispatcher says whether it works. Failures that went unlogged,
// within a minute of a WARN, are counted into the next one. Only Run's
// goroutine uses it.
type dispatchFailures struct {
	// outage counts the runs that failed since the last one that
	// succeeded, and throttles their WARN lines.
	outage *logthrottle.Outage
}

func newDispatchFailures(now func() time.Time) *dispatchFailures {
	return &dispatchFailures{outage: logthrottle.NewOutage(dispatchLogEvery, now, logthrottle.WithClock(now))}
}

// log logs a run of Dispatch that returned err.
func (f *dispatchFailures) log(logger *slog.Logger, err error) {
	const msg = "dispatch callbacks"
	if err == nil {
		if failures, downFor, ok := f.outage.Recovered(); ok {
			// Durations as text ("1m30s"), where a JSON handler would
			// write integer nanoseconds.
			logger.Info("database reachable again", "component", "callback dispatcher", "failures", failures,
				"down_for", downFor.String())
		}
		return
	}
	n, since, ok := f.outage.Failed("")
	if !ok {
		logger.Debug(msg, "error", err)
		return
	}
	args := []any{"error", err}
	if n > 1 {
		args = append(args, "repeated", n, "since", since)
	}
	logger.Warn(msg, args...)
}

// Dispatch inserts the jobs of up to callbackDispatchBatch owed callbacks,
// oldest first, and reports how many it inserted.
func (d *CallbackDispatcher) Dispatch(ctx context.Context) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		owed, err := store.ClaimOwedCallbacks(ctx, tx, callbackDispatchBatch)
		if err != nil || len(owed) == 0 {
			return err
		}
		params := make([]river.InsertManyParams, len(owed))
		for i, o := range owed {
			params[i] = river.InsertManyParams{Args: CallbackDeliveryArgs{DeliveryID: o.ID, GenerationID: o.GenerationID}}
		}
		results, err := d.client.InsertManyTx(ctx, tx, params)
		if err != nil {
			return fmt.Errorf("insert callback jobs: %w", err)
		}
		// Matched through the jobs' args rather than trusting their order.
		ids, jobIDs := make([]uuid.UUID, len(results)), make([]int64, len(results))
		for i, r := range results {
			var args CallbackDeliveryArgs
			if err := json.Unmarshal(r.Job.EncodedArgs, &args); err != nil {
				return fmt.Errorf("read args of callback job %d: %w", r.Job.ID, err)
			}
			ids[i], jobIDs[i] = args.DeliveryID, r.Job.ID
		}
		n = len(results)
		return store.SetCallbackJobs(ctx, tx, ids, jobIDs)
	})
	if err != nil {
		return 0, fmt.Errorf("dispatch callbacks: %w", err)
	}
	return n, nil
}

// abandonOrphans abandons the deliveries whose River job will never run
// again, and reports how many.
func (d *CallbackDispatcher) abandonOrphans(ctx context.Context) (int, error) {
	total := 0
	for {
		orphans, err := store.AbandonOrphanedCallbacks(ctx, d.pool, callbackSweepBatch)
		if err != nil {
			return total, err
		}
		for _, o := range orphans {
			d.logger.Error("callback abandoned: its River job will never run again, and it was not delivered",
				"generation_id", o.GenerationID, "callback_delivery_id", o.ID, "job_id", o.JobID, "job_state", o.JobState,
				"attempts", o.Attempts)
			d.metrics.CallbackAttempted(metrics.CallbackExhausted)
		}
		total += len(orphans)
		if len(orphans) < callbackSweepBatch {
			return total, nil
		}
	}
}
