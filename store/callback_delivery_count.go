package store

import (
	"context"
	"fmt"
	"time"
)

// CallbackDeliveryCounts are callback_deliveries by state, and the age of
// the oldest one not ended, by the database's clock.
type CallbackDeliveryCounts struct {
	// Owed deliveries have no River job yet: a worker process's dispatcher
	// gives them one within a second, so they pile up only while none runs.
	Owed int64
	// Pending deliveries have a job and have not ended: being tried, or
	// waiting for their next retry.
	Pending   int64
	Delivered int64
	Abandoned int64
	// OldestUnfinished is how long the oldest delivery neither delivered
	// nor abandoned has been owed, since its row was written (when its
	// generation finished); 0 when there is none. A delivery asked for
	// again keeps its created_at, so it counts from then too.
	OldestUnfinished time.Duration
}

// countCallbackDeliveriesExact reads every row once: exact by the
// definitions of CallbackDeliveryCounts, and cheap while the table is small.
const countCallbackDeliveriesExact = `
	SELECT
		count(*) FILTER (WHERE job_id IS NULL AND delivered_at IS NULL AND abandoned_at IS NULL),
		count(*) FILTER (WHERE job_id IS NOT NULL AND delivered_at IS NULL AND abandoned_at IS NULL),
		count(*) FILTER (WHERE delivered_at IS NOT NULL),
		count(*) FILTER (WHERE abandoned_at IS NOT NULL),
		coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE delivered_at IS NULL AND abandoned_at IS NULL))::double precision, 0)
	FROM callback_deliveries`

// countCallbackDeliveriesIndexed is for a table too big to read at every
// scrape. It reads the deliveries not ended, and only them, through
// callback_deliveries_unfinished_idx, however long the delivered history:
// owed, pending (whatever became of its River job) and the oldest stay
// exact. No index holds the ended rows, so their counts come from the
// planner's statistics (pg_stats.null_frac), as of the last ANALYZE: 0
// before one.
const countCallbackDeliveriesIndexed = `
	WITH unfinished AS (
		SELECT count(*) FILTER (WHERE job_id IS NULL) AS owed, count(*) FILTER (WHERE job_id IS NOT NULL) AS pending,
			min(created_at) AS oldest
		FROM callback_deliveries
		WHERE delivered_at IS NULL AND abandoned_at IS NULL
	), ended AS (
		SELECT
			round(c.reltuples * (1 - max(s.null_frac) FILTER (WHERE s.attname = 'delivered_at')))::bigint AS delivered,
			round(c.reltuples * (1 - max(s.null_frac) FILTER (WHERE s.attname = 'abandoned_at')))::bigint AS abandoned
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname
			AND s.attname IN ('delivered_at', 'abandoned_at')
		WHERE c.oid = 'callback_deliveries'::regclass
		GROUP BY c.reltuples
	)
	SELECT unfinished.owed, unfinished.pending, coalesce(ended.delivered, 0), coalesce(ended.abandoned, 0),
		coalesce(extract(epoch FROM now() - unfinished.oldest)::double precision, 0)
	FROM unfinished, ended`

// CountCallbackDeliveries counts callback deliveries by state, for
// watching callbacks that are late or given up on, whether or not a worker
// process is running.
//
// While the planner estimates the table below exactBelow rows, it reads
// the whole table and every count is exact. Beyond that, it reads only the
// deliveries not ended, through an index of them: owed, pending and
// OldestUnfinished stay exact, pending counting a delivery whose River job
// ended or was deleted without ending it until the dispatcher abandons it
// (within minutes; see AbandonOrphanedCallbacks), while delivered and
// abandoned are the planner's estimates.
func CountCallbackDeliveries(ctx context.Context, db DBTX, exactBelow float64) (CallbackDeliveryCounts, error) {
	var estimate float64
	if err := db.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'callback_deliveries'::regclass`).Scan(&estimate); err != nil {
		return CallbackDeliveryCounts{}, fmt.Errorf("count callback deliveries: estimate rows: %w", err)
	}
	// reltuples is -1 until the table is first vacuumed or analyzed.
	query := countCallbackDeliveriesExact
	if estimate >= exactBelow {
		query = countCallbackDeliveriesIndexed
	}
	var (
		c      CallbackDeliveryCounts
		oldest float64
	)
	if err := db.QueryRow(ctx, query).Scan(&c.Owed, &c.Pending, &c.Delivered, &c.Abandoned, &oldest); err != nil {
		return CallbackDeliveryCounts{}, fmt.Errorf("count callback deliveries: %w", err)
	}
	c.OldestUnfinished = ageOf(oldest)
	return c, nil
}
