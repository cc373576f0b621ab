package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/easelhq/easel/store"
)

const (
	// scrapeTimeout bounds the queries of one scrape: metrics must not pile
	// load on a database that is already slow.
	scrapeTimeout = 5 * time.Second
	// exactCountBelow is the table size up to which generations are counted
	// exactly by every status; see store.CountGenerationsByStatus.
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

// dbCollector reads the gauges of state that all processes share from
// Postgres at scrape time.
type dbCollector struct {
	db            store.DBTX
	maxInflight   int
	up            *prometheus.Desc
	generations   *prometheus.Desc
	inflight      *prometheus.Desc
	inflightLimit *prometheus.Desc
	oldest        *prometheus.Desc
	riverJobs     *prometheus.Desc
}

func newDBCollector(db store.DBTX, maxInflight int) *dbCollector {
	return &dbCollector{
		db:          db,
		maxInflight: maxInflight,
		up: prometheus.NewDesc("easel_database_up",
			"1 when this scrape's queries of Postgres all succeeded, 0 when one failed and the gauges read from Postgres are missing from it.", nil, nil),
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
	}
}

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.up
	ch <- c.generations
	ch <- c.inflight
	ch <- c.inflightLimit
	ch <- c.oldest
	ch <- c.riverJobs
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()

	if c.maxInflight > 0 {
		ch <- prometheus.MustNewConstMetric(c.inflightLimit, prometheus.GaugeValue, float64(c.maxInflight))
	}
	// A gauge whose query fails goes missing from the scrape rather than
	// read a wrong 0; up says so, for alerts that must not see "no data".
	up := 1.0
	failed := func(desc *prometheus.Desc, err error) {
		up = 0
		ch <- prometheus.NewInvalidMetric(desc, err)
	}

	if counts, err := store.CountGenerationsByStatus(ctx, c.db, exactCountBelow); err != nil {
		failed(c.generations, err)
	} else {
		// counts holds every status, 0 when none, so none goes missing.
		for status, n := range counts {
			ch <- prometheus.MustNewConstMetric(c.generations, prometheus.GaugeValue, float64(n), string(status))
		}
	}
	if n, err := store.CountInflight(ctx, c.db); err != nil {
		failed(c.inflight, err)
	} else {
		ch <- prometheus.MustNewConstMetric(c.inflight, prometheus.GaugeValue, float64(n))
	}
	if ages, err := store.OldestUnfinished(ctx, c.db); err != nil {
		failed(c.oldest, err)
	} else {
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, ages.Queued.Seconds(), string(store.StatusQueued))
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, ages.Submitted.Seconds(), string(store.StatusSubmitted))
	}
	if counts, err := store.CountUnfinishedRiverJobs(ctx, c.db); err != nil {
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
			ch <- prometheus.MustNewConstMetric(c.riverJobs, prometheus.GaugeValue, float64(n), k.queue, k.state)
		}
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
}
