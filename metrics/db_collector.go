package metrics

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/easelhq/easel/store"
)

const (
	// scrapeTimeout bounds the queries of one scrape: metrics must not pile
	// load on a database that is already slow.
	scrapeTimeout = 5 * time.Second
	// exactCountBelow is the table size up to which generations, and
	// callback deliveries, are counted exactly by every status or state;
	// see store.CountGenerationsByStatus and store.CountCallbackDeliveries.
	exactCountBelow = 100_000
)

// riverQueues are the queues of jobs.RiverConfig, whose depth reads 0
// rather than absent when empty. They are spelled out because jobs imports
// metrics; jobs' TestRiverConfigQueuesHaveMetrics keeps the two in step.
var riverQueues = []string{river.QueueDefault, "callbacks", "reconcile"}

// riverUnfinishedStates are the states store.CountUnfinishedRiverJobs
// counts.
var riverUnfinishedStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
	rivertype.JobStateRunning, rivertype.JobStateScheduled,
}

// falCancelAnswers are the answers easel_fal_request_cancels reports even
// when no row has them.
var falCancelAnswers = []store.FalCancelAnswer{
	store.FalCancelPending, store.FalCancelRequested, store.FalCancelAlreadyCompleted, store.FalCancelNotFound,
	store.FalCancelRefused, store.FalCancelGaveUp,
}

// databaseReadEvery is how long one read of the gauges from Postgres serves
// the scrapes that follow: /metrics is open to anyone, and without it
// whoever floods /metrics would set the load on the database and on the
// pool that the API and the workers share. Prometheus scrapes every few
// seconds at most, so it never sees a reading it has already seen.
const databaseReadEvery = time.Second

// dbCollector reads the gauges of state that all processes share from
// Postgres when scraped: at most once per databaseReadEvery, the scrapes
// in between, and those arriving while a read is under way, sharing it.
type dbCollector struct {
	db            store.DBTX
	maxInflight   int
	up            *prometheus.Desc
	generations   *prometheus.Desc
	inflight      *prometheus.Desc
	inflightLimit *prometheus.Desc
	oldest        *prometheus.Desc
	riverJobs     *prometheus.Desc
	unconfirmed   *prometheus.Desc
	resubmitted   *prometheus.Desc
	held          *prometheus.Desc
	falCancels    *prometheus.Desc
	callbacks     *prometheus.Desc
	callbackAge   *prometheus.Desc

	// now is the clock that ages readings; tests set it to expire one
	// without waiting.
	now     func() time.Time
	log     *scrapeLog // told how each read went
	mu      sync.Mutex
	reading *dbReading // the latest read, finished or under way; nil before the first
}

// dbReading is one read of the gauges from Postgres.
type dbReading struct {
	done    chan struct{} // closed once metrics and at are set
	metrics []prometheus.Metric
	at      time.Time // when the read finished
}

func newDBCollector(db store.DBTX, maxInflight int, log *scrapeLog) *dbCollector {
	return &dbCollector{
		db:          db,
		maxInflight: maxInflight,
		now:         time.Now,
		log:         log,
		up: prometheus.NewDesc("easel_database_up",
			"1 when the latest read of Postgres for the gauges (at most a second old, shared by the scrapes meanwhile) succeeded in full, 0 when a query failed and the gauges read from Postgres are missing from it.", nil, nil),
		generations: prometheus.NewDesc("easel_generations",
			"Generations by status. queued and submitted are exact; beyond 100k rows the finished statuses are the planner's estimate (as of the last ANALYZE).",
			[]string{"status"}, nil),
		inflight: prometheus.NewDesc("easel_generations_in_flight",
			"Generations in flight at fal: unfinished, with a submission fal may have accepted.", nil, nil),
		inflightLimit: prometheus.NewDesc("easel_generations_in_flight_limit",
			"FAL_MAX_INFLIGHT: the most generations in flight at fal.", nil, nil),
		oldest: prometheus.NewDesc("easel_oldest_unfinished_seconds",
			"Age of the oldest unfinished generation by status: queued, since it was due (created, or its run_at); submitted, since its submission to fal. 0 when there is none.",
			[]string{"status"}, nil),
		riverJobs: prometheus.NewDesc("easel_river_jobs",
			"River jobs not yet finished, by queue and state (available, pending, retryable, running, scheduled): the queue depth.",
			[]string{"queue", "state"}, nil),
		unconfirmed: prometheus.NewDesc("easel_generations_unconfirmed_submissions",
			"Submissions to fal whose answer Easel has not recorded (fal_submissions - fal_submissions_confirmed), summed over unfinished generations: "+
				"answers lost, each possibly billed, and submits under way (one each, for the length of the call). A generation that finishes stops counting.", nil, nil),
		resubmitted: prometheus.NewDesc("easel_generations_resubmitted",
			"Unfinished generations submitted to fal more than once (fal_submissions > 1), after an answer was lost: fal may bill each submission.", nil, nil),
		held: prometheus.NewDesc("easel_generations_submit_unconfirmed",
			"Queued generations held back as submit_unconfirmed: fal may have accepted submissions whose answers never came, so none is sent again; a webhook or the timeout finishes them.", nil, nil),
		falCancels: prometheus.NewDesc("easel_fal_request_cancels",
			"fal requests Easel cancelled because it had no use for them, by reason (superseded: another request's result finished the generation; timeout) and answer (fal's: CANCELLATION_REQUESTED, ALREADY_COMPLETED, NOT_FOUND; Easel's: refused, gave_up; or pending). "+
				"Rows are kept for good, so the answered counts only grow: ALREADY_COMPLETED means fal ran the request, and billed it.",
			[]string{"reason", "answer"}, nil),
		callbacks: prometheus.NewDesc("easel_callback_deliveries",
			"Callbacks by state: owed (no River job yet: none is given while no worker process runs), pending (a job, being tried or waiting for its next retry), delivered, abandoned. "+
				"Exact up to 100k rows; beyond, owed and pending are still exact, read through an index of the deliveries not ended, "+
				"while delivered and abandoned are the planner's estimate (as of the last ANALYZE), since no index holds them.",
			[]string{"state"}, nil),
		callbackAge: prometheus.NewDesc("easel_callback_oldest_unfinished_seconds",
			"Age of the oldest callback neither delivered nor abandoned, since its generation finished; 0 when there is none.", nil, nil),
	}
}

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.up
	ch <- c.generations
	ch <- c.inflight
	ch <- c.inflightLimit
	ch <- c.oldest
	ch <- c.riverJobs
	ch <- c.unconfirmed
	ch <- c.resubmitted
	ch <- c.held
	ch <- c.falCancels
	ch <- c.callbacks
	ch <- c.callbackAge
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	if c.maxInflight > 0 {
		ch <- prometheus.MustNewConstMetric(c.inflightLimit, prometheus.GaugeValue, float64(c.maxInflight))
	}
	for _, m := range c.latest() {
		ch <- m
	}
}

// latest returns the gauges of a reading at most databaseReadEvery old,
// reading them unless such a reading is at hand or under way, in which
// case it waits for that one. A failed read is shared the same way, as the
// failure it is (easel_database_up 0, the gauges missing): a database in
// trouble is read no more often than a healthy one.
func (c *dbCollector) latest() []prometheus.Metric {
	c.mu.Lock()
	r := c.reading
	stale := r == nil
	if !stale {
		select {
		case <-r.done:
			stale = c.now().Sub(r.at) >= databaseReadEvery
		default: // under way
		}
	}
	if stale {
		r = &dbReading{done: make(chan struct{})}
		c.reading = r
	}
	c.mu.Unlock()

	if stale {
		// Closed however read ends, so that no scrape waits forever.
		defer close(r.done)
		var up bool
		r.metrics, up = c.read()
		r.at = c.now()
		c.log.readDone(up)
		return r.metrics
	}
	<-r.done
	return r.metrics
}

// read reads the gauges from Postgres, on one connection of the pool,
// taken once rather than for each query. It runs on behalf of every scrape
// waiting for it, so it is bounded by its own timeout and by no scrape's.
// up reports whether every query succeeded.
func (c *dbCollector) read() (_ []prometheus.Metric, up bool) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()

	var metrics []prometheus.Metric
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		metrics = append(metrics, prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...))
	}
	// A gauge whose query fails goes missing from the scrape rather than
	// read a wrong 0; up says so, for alerts that must not see "no data".
	upValue := 1.0
	failed := func(desc *prometheus.Desc, err error) {
		upValue = 0
		metrics = append(metrics, prometheus.NewInvalidMetric(desc, err))
	}

	db := c.db
	if pool, ok := c.db.(interface {
		Acquire(context.Context) (*pgxpool.Conn, error)
	}); ok {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			err = fmt.Errorf("acquire a connection to read the gauges: %w", err)
			for _, desc := range []*prometheus.Desc{c.generations, c.inflight, c.oldest, c.riverJobs, c.unconfirmed, c.resubmitted, c.held, c.falCancels, c.callbacks, c.callbackAge} {
				failed(desc, err)
			}
			gauge(c.up, upValue)
			return metrics, false
		}
		defer conn.Release()
		db = conn
	}

	if counts, err := store.CountGenerationsByStatus(ctx, db, exactCountBelow); err != nil {
		failed(c.generations, err)
	} else {
		// counts holds every status, 0 when none, so none goes missing.
		for status, n := range counts {
			gauge(c.generations, float64(n), string(status))
		}
	}
	if n, err := store.CountInflight(ctx, db); err != nil {
		failed(c.inflight, err)
	} else {
		gauge(c.inflight, float64(n))
	}
	if a, err := store.ReadSubmissionAccounting(ctx, db); err != nil {
		for _, desc := range []*prometheus.Desc{c.unconfirmed, c.resubmitted, c.held} {
			failed(desc, err)
		}
	} else {
		gauge(c.unconfirmed, float64(a.Unconfirmed))
		gauge(c.resubmitted, float64(a.Resubmitted))
		gauge(c.held, float64(a.Held))
	}
	if counts, err := store.CountFalRequestCancels(ctx, db); err != nil {
		failed(c.falCancels, err)
	} else {
		// Every reason and answer is reported, 0 when none, so that an
		// alert on ALREADY_COMPLETED sees 0 rather than "no data".
		for _, reason := range []store.FalCancelReason{store.FalCancelSuperseded, store.FalCancelTimeout} {
			for _, answer := range falCancelAnswers {
				if k := (store.FalCancelKey{Reason: reason, Answer: answer}); counts[k] == 0 {
					counts[k] = 0
				}
			}
		}
		for k, n := range counts {
			gauge(c.falCancels, float64(n), string(k.Reason), string(k.Answer))
		}
	}
	if counts, err := store.CountCallbackDeliveries(ctx, db, exactCountBelow); err != nil {
		failed(c.callbacks, err)
		failed(c.callbackAge, err)
	} else {
		// Every state is reported, 0 when none, so that an alert on owed
		// or abandoned callbacks sees 0 rather than "no data".
		gauge(c.callbacks, float64(counts.Owed), "owed")
		gauge(c.callbacks, float64(counts.Pending), "pending")
		gauge(c.callbacks, float64(counts.Delivered), "delivered")
		gauge(c.callbacks, float64(counts.Abandoned), "abandoned")
		gauge(c.callbackAge, counts.OldestUnfinished.Seconds())
	}
	if ages, err := store.OldestUnfinished(ctx, db); err != nil {
		failed(c.oldest, err)
	} else {
		gauge(c.oldest, ages.Queued.Seconds(), string(store.StatusQueued))
		gauge(c.oldest, ages.Submitted.Seconds(), string(store.StatusSubmitted))
	}
	if counts, err := store.CountUnfinishedRiverJobs(ctx, db); err != nil {
		failed(c.riverJobs, err)
	} else {
		// Every known queue and state is reported, 0 when empty, so that a
		// queue that drains reads 0 rather than "no data"; a queue or state
		// met only in the rows is reported too.
		type queueState struct{ queue, state string }
		depth := make(map[queueState]int64, len(riverQueues)*len(riverUnfinishedStates))
		for _, q := range riverQueues {
			for _, s := range riverUnfinishedStates {
				depth[queueState{q, string(s)}] = 0
			}
		}
		for _, j := range counts {
			depth[queueState{j.Queue, j.State}] = j.Count
		}
		for k, n := range depth {
			gauge(c.riverJobs, float64(n), k.queue, k.state)
		}
	}
	gauge(c.up, upValue)
	return metrics, upValue == 1
}
