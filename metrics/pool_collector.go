package metrics

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// poolCollector reports this process's database connection pool, read from
// pgxpool.Stat at scrape time, so that an operator can tell whether
// EASEL_DB_MAX_CONNS is too small: acquires waiting for a connection while
// every connection is acquired. Its counters include the scrape's own
// queries of the gauges in dbCollector, a few acquires per scrape; its
// gauges are read before them.
type poolCollector struct {
	pool          *pgxpool.Pool
	connections   *prometheus.Desc
	maxConns      *prometheus.Desc
	acquires      *prometheus.Desc
	waits         *prometheus.Desc
	waitSeconds   *prometheus.Desc
	canceledWaits *prometheus.Desc
}

func newPoolCollector(pool *pgxpool.Pool) *poolCollector {
	return &poolCollector{
		pool: pool,
		connections: prometheus.NewDesc("easel_db_pool_connections",
			"Connections of this process's database pool by state: acquired (in use), idle, constructing (being opened).",
			[]string{"state"}, nil),
		maxConns: prometheus.NewDesc("easel_db_pool_max_connections",
			"The most connections this process's database pool opens: EASEL_DB_MAX_CONNS, or its default.", nil, nil),
		acquires: prometheus.NewDesc("easel_db_pool_acquires_total",
			"Connections acquired from this process's database pool.", nil, nil),
		waits: prometheus.NewDesc("easel_db_pool_acquire_waits_total",
			"Acquires from this process's database pool that found no idle connection and waited for one to be released or opened.", nil, nil),
		waitSeconds: prometheus.NewDesc("easel_db_pool_acquire_wait_seconds_total",
			"Time acquires from this process's database pool spent waiting for a connection to be released or opened.", nil, nil),
		canceledWaits: prometheus.NewDesc("easel_db_pool_canceled_acquires_total",
			"Acquires from this process's database pool given up (context cancelled or timed out) before getting a connection.", nil, nil),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.connections
	ch <- c.maxConns
	ch <- c.acquires
	ch <- c.waits
	ch <- c.waitSeconds
	ch <- c.canceledWaits
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	ch <- prometheus.MustNewConstMetric(c.connections, prometheus.GaugeValue, float64(s.AcquiredConns()), "acquired")
	ch <- prometheus.MustNewConstMetric(c.connections, prometheus.GaugeValue, float64(s.IdleConns()), "idle")
	ch <- prometheus.MustNewConstMetric(c.connections, prometheus.GaugeValue, float64(s.ConstructingConns()), "constructing")
	ch <- prometheus.MustNewConstMetric(c.maxConns, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(c.acquires, prometheus.CounterValue, float64(s.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, float64(s.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.waitSeconds, prometheus.CounterValue, s.EmptyAcquireWaitTime().Seconds())
	ch <- prometheus.MustNewConstMetric(c.canceledWaits, prometheus.CounterValue, float64(s.CanceledAcquireCount()))
}
