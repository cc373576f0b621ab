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
}

// NewCallbackDispatcher returns a dispatcher inserting jobs with client.
func NewCallbackDispatcher(pool *pgxpool.Pool, client *river.Client[pgx.Tx], logger *slog.Logger) *CallbackDispatcher {
	if logger == nil {
		logger = slog.Default()
	}
	return &CallbackDispatcher{pool: pool, client: client, logger: logger}
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
		if err != nil && ctx.Err() == nil {
			d.logger.Warn("dispatch callbacks", "error", err)
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
