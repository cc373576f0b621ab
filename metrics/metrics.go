package metrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/easelhq/easel/store"
)

// OutcomeUnknownGeneration is the webhook outcome of a signed webhook whose
// URL names no generation. Webhook outcomes are store's Outcome constants;
// this one is kept here for existing callers.
const OutcomeUnknownGeneration = store.OutcomeUnknownGeneration

// Outcomes of a callback attempt, the values of easel_callbacks_total's
// outcome label.
const (
	CallbackDelivered = "delivered" // the receiver answered 2xx
	CallbackRetrying  = "retrying"  // failed; another attempt is scheduled
	CallbackRejected  = "rejected"  // the receiver answered 4xx (not 408/429); abandoned
	CallbackRefused   = "refused"   // the URL's address is not allowed; abandoned
	CallbackExhausted = "exhausted" // failed after the last attempt of a day; abandoned
)

// webhookOutcomes are every value of easel_webhooks_received_total's
// outcome label: store's Outcome constants, as README lists them.
var webhookOutcomes = []string{
	store.OutcomeApplied, store.OutcomeDuplicate, store.OutcomeLate, store.OutcomeDeferred,
	store.OutcomeMismatchedRequest, store.OutcomeBadSignature, store.OutcomeMalformed, store.OutcomeUnknownGeneration,
}

// callbackOutcomes are every value of easel_callbacks_total's outcome label.
var callbackOutcomes = []string{CallbackDelivered, CallbackRetrying, CallbackRejected, CallbackRefused, CallbackExhausted}

// Config configures Metrics.
type Config struct {
	// MaxInflight is FAL_MAX_INFLIGHT, exported next to the in-flight count;
	// 0 leaves easel_generations_in_flight_limit out.
	MaxInflight int
	// Logger receives errors met while serving a scrape; nil means
	// slog.Default().
	Logger *slog.Logger
	// Pool is this process's database pool, whose connections and waits
	// for a connection are exported as easel_db_pool_*; nil leaves those
	// metrics out.
	Pool *pgxpool.Pool
}

// Metrics are Easel's metrics, in a registry of their own (with Go's
// runtime and process metrics), so that each Easel server in a test process
// counts only what it saw.
type Metrics struct {
	registry       *prometheus.Registry
	logger         *slog.Logger
	webhooks       *prometheus.CounterVec
	timeToComplete prometheus.Histogram
	jobDuration    *prometheus.HistogramVec
	callbacks      *prometheus.CounterVec
}

// New returns Metrics whose gauges of shared state are read through db when
// scraped.
func New(db store.DBTX, cfg Config) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		logger:   cfg.Logger,
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "easel_webhooks_received_total",
			Help: "fal webhooks received, by outcome (applied, duplicate, late, deferred, mismatched_request, bad_signature, malformed, unknown_generation).",
		}, []string{"outcome"}),
		timeToComplete: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "easel_generation_time_to_complete_seconds",
			Help:    "Time from a generation being due (created, or its run_at) to its completion, for generations completed by this process.",
			Buckets: []float64{1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 7200},
		}),
		jobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "easel_job_duration_seconds",
			Help: "Duration of River job attempts worked by this process, by job kind and result (ok, error, cancelled, snoozed). " +
				`kind="submit_generation" is the latency of submitting to fal.`,
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"kind", "result"}),
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "easel_callbacks_total",
			Help: "Callback delivery attempts by outcome (delivered, retrying, rejected, refused, exhausted).",
		}, []string{"outcome"}),
	}
	if m.logger == nil {
		m.logger = slog.Default()
	}
	// Series that exist from the start read 0 rather than absent, which
	// keeps rate() and alerts simple: a series born at 1 loses its first
	// increment to rate() and increase(). Job kinds are the jobs package's,
	// which imports this one, so easel_job_duration_seconds gets its result
	// series per kind at the kind's first attempt (see workerMiddleware).
	for _, o := range webhookOutcomes {
		m.webhooks.WithLabelValues(o)
	}
	for _, o := range callbackOutcomes {
		m.callbacks.WithLabelValues(o)
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.webhooks, m.timeToComplete, m.jobDuration, m.callbacks,
	)
	var shared []prometheus.Collector
	if cfg.Pool != nil {
		shared = append(shared, newPoolCollector(cfg.Pool))
	}
	// The pool is read before the gauges' queries acquire from it, in one
	// collector: a registry runs collectors concurrently, and the scrape's
	// own connection would otherwise count as acquired or not by chance.
	m.registry.MustRegister(inOrder(append(shared, newDBCollector(db, cfg.MaxInflight))))
	return m
}

// inOrder collects its collectors one after the other.
type inOrder []prometheus.Collector

func (c inOrder) Describe(ch chan<- *prometheus.Desc) {
	for _, col := range c {
		col.Describe(ch)
	}
}

func (c inOrder) Collect(ch chan<- prometheus.Metric) {
	for _, col := range c {
		col.Collect(ch)
	}
}

// Handler serves the metrics in Prometheus' exposition formats. When the
// database cannot be read, the scrape still answers with everything else
// and the error is logged.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		ErrorLog:      errorLog{m.logger},
		ErrorHandling: promhttp.ContinueOnError,
		Timeout:       scrapeTimeout + 5*time.Second,
	})
}

// WebhookReceived counts a webhook by outcome.
func (m *Metrics) WebhookReceived(outcome string) {
	if m == nil {
		return
	}
	m.webhooks.WithLabelValues(outcome).Inc()
}

// GenerationCompleted observes the time to complete of g, a generation that
// just completed.
func (m *Metrics) GenerationCompleted(g *store.Generation) {
	if m == nil || g.CompletedAt == nil {
		return
	}
	due := g.CreatedAt
	if g.RunAt != nil && g.RunAt.After(due) {
		due = *g.RunAt
	}
	m.timeToComplete.Observe(g.CompletedAt.Sub(due).Seconds())
}

// CallbackAttempted counts one callback attempt by outcome (Callback*).
func (m *Metrics) CallbackAttempted(outcome string) {
	if m == nil {
		return
	}
	m.callbacks.WithLabelValues(outcome).Inc()
}

type errorLog struct{ logger *slog.Logger }

func (l errorLog) Println(v ...any) {
	l.logger.Error("serve metrics", "error", fmt.Sprint(v...))
}
