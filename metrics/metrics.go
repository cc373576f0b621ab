package metrics

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/easelhq/easel/store"
)

// Outcomes of a callback attempt, the values of easel_callbacks_total's
// outcome label.
const (
	CallbackDelivered = "delivered" // the receiver answered 2xx
	CallbackRetrying  = "retrying"  // failed; another attempt is scheduled
	CallbackRejected  = "rejected"  // the receiver answered 410 Gone; abandoned
	CallbackRefused   = "refused"   // the URL's address is not allowed; abandoned
	CallbackExhausted = "exhausted" // failed after the last attempt of a day, or its River job ended without delivering it; abandoned
)

// Outcomes of a webhook delivery answered with an error before anything
// could be stored, so never found in webhook_events.outcome: fal delivers
// these again (but for too_large, a 4xx), and a run of them means results
// are not getting in.
const (
	// WebhookKeysUnavailable: fal's signing keys could not be fetched to
	// verify the delivery (503).
	WebhookKeysUnavailable = "keys_unavailable"
	// WebhookNotRecorded: the delivery could not be recorded, the
	// database failing (500).
	WebhookNotRecorded = "not_recorded"
	// WebhookTooLarge: the body exceeds webhooks.MaxBodyBytes (413).
	WebhookTooLarge = "too_large"
)

// webhookOutcomes are every value of easel_webhooks_received_total's
// outcome label: store's Outcome constants, and the errors above, as
// README lists them.
var webhookOutcomes = []store.WebhookOutcome{
	store.OutcomeApplied, store.OutcomeDuplicate, store.OutcomeLate, store.OutcomeDeferred,
	store.OutcomeMismatchedRequest, store.OutcomeBadSignature, store.OutcomeMalformed, store.OutcomeUnknownGeneration,
	store.OutcomeDeletedGeneration,
	WebhookKeysUnavailable, WebhookNotRecorded, WebhookTooLarge,
}

// Sources of a fal result applied to a generation, the values of
// easel_results_applied_total's source label.
const (
	ResultFromWebhook    = "webhook"    // fal's webhook
	ResultFromReconciler = "reconciler" // polled by the reconciler: the webhook was lost, late or carried no result
	ResultFromCancel     = "cancel"     // fetched by a cancel that fal answered ALREADY_COMPLETED
)

var resultSources = []string{ResultFromWebhook, ResultFromReconciler, ResultFromCancel}

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
	finished       *prometheus.CounterVec
	resultsApplied *prometheus.CounterVec
	falRequests    *prometheus.CounterVec
	falDuration    *prometheus.HistogramVec
	jobDuration    *prometheus.HistogramVec
	callbacks      *prometheus.CounterVec
	httpRequests   *prometheus.CounterVec
	apiErrors      *prometheus.CounterVec
	dbGauges       *dbCollector
	scrapeLog      *scrapeLog
}

// New returns Metrics whose gauges of shared state are read through db when
// scraped.
func New(db store.DBTX, cfg Config) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		logger:   cfg.Logger,
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "easel_webhooks_received_total",
			Help: "fal webhooks received, by outcome (applied, duplicate, late, deferred, mismatched_request, bad_signature, malformed, unknown_generation, deleted_generation; " +
				"answered with an error for fal to deliver again: keys_unavailable, not_recorded; refused: too_large).",
		}, []string{"outcome"}),
		timeToComplete: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "easel_generation_time_to_complete_seconds",
			Help:    "Time from a generation being due (created, or its run_at) to its completion, for generations completed by this process.",
			Buckets: []float64{1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 7200},
		}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "easel_generations_finished_total",
			Help: "Generations finished by this process, by status (completed, failed, cancelled) and error_code " +
				`(as stored; "" when completed, "cancelled" when cancelled, "other" for a failure code that is neither Easel's nor an error type fal documents: docs/API.md, "Error codes").`,
		}, []string{"status", "error_code"}),
		resultsApplied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "easel_results_applied_total",
			Help: "fal results that finished a generation, applied by this process, by where the result came from (webhook, reconciler, cancel).",
		}, []string{"source"}),
		falRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "easel_fal_requests_total",
			Help: "Calls to fal's queue API made by this process, by operation (submit, status, result, cancel) and result " +
				"(ok, rate_limited, unavailable, auth, not_found, rejected, invalid_request, unreachable, timeout).",
		}, []string{"operation", "result"}),
		// fal answers in tens of milliseconds to seconds; a submit may take
		// up to the submit job's timeout, half of EASEL_RESCUE_AFTER.
		falDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "easel_fal_request_duration_seconds",
			Help: "Duration of the calls to fal's queue API made by this process, from sending the request to reading the answer, " +
				"by operation (submit, status, result, cancel) and result (as easel_fal_requests_total's): fal's own latency.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"operation", "result"}),
		jobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "easel_job_duration_seconds",
			Help: "Duration of River job attempts worked by this process, by job kind and result (ok, error, cancelled, snoozed). " +
				`A submit_generation attempt includes waiting up to 5 s for a FAL_MAX_INFLIGHT slot: fal's own latency is easel_fal_request_duration_seconds.`,
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
	m.httpRequests, m.apiErrors = newHTTPCounters()
	// Series that exist from the start read 0 rather than absent, which
	// keeps rate() and alerts simple: a series born at 1 loses its first
	// increment to rate() and increase(). Job kinds are the jobs package's,
	// which imports this one, so easel_job_duration_seconds gets its result
	// series per kind at the kind's first attempt (see workerMiddleware).
	for _, o := range webhookOutcomes {
		m.webhooks.WithLabelValues(string(o))
	}
	for _, o := range callbackOutcomes {
		m.callbacks.WithLabelValues(o)
	}
	for _, f := range finishedLabels() {
		m.finished.WithLabelValues(f.status, f.errorCode)
	}
	for _, s := range resultSources {
		m.resultsApplied.WithLabelValues(s)
	}
	for _, op := range falOperations {
		for _, r := range falResults {
			m.falRequests.WithLabelValues(op, r)
		}
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.webhooks, m.timeToComplete, m.finished, m.resultsApplied, m.falRequests, m.falDuration, m.jobDuration, m.callbacks,
		m.httpRequests, m.apiErrors,
	)
	m.registry.MustRegister(buildInfo())
	var shared []prometheus.Collector
	if cfg.Pool != nil {
		shared = append(shared, newPoolCollector(cfg.Pool))
	}
	// The pool is read before the gauges' queries acquire from it, in one
	// collector: a registry runs collectors concurrently, and the scrape's
	// own connection would otherwise count as acquired or not by chance.
	m.scrapeLog = newScrapeLog(m.logger, time.Now)
	m.dbGauges = newDBCollector(db, cfg.MaxInflight, m.scrapeLog)
	m.registry.MustRegister(inOrder(append(shared, m.dbGauges)))
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
// and the error is logged (at most once a minute, see scrapeLog).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		ErrorLog:      m.scrapeLog,
		ErrorHandling: promhttp.ContinueOnError,
		Timeout:       scrapeTimeout + 5*time.Second,
	})
}

// WebhookReceived counts a webhook by outcome.
func (m *Metrics) WebhookReceived(outcome store.WebhookOutcome) {
	if m == nil {
		return
	}
	m.webhooks.WithLabelValues(string(outcome)).Inc()
}

// GenerationFinished counts g, a generation this process just finished, in
// easel_generations_finished_total by its status and error code, and
// observes the time to complete of a completed one. Call it once the
// change has committed, and only when this process made it (store.Fail's
// changed, and the like), so that a generation counts once across
// processes. A g that is not finished is ignored.
func (m *Metrics) GenerationFinished(g *store.Generation) {
	if m == nil || !g.Status.Terminal() {
		return
	}
	var code string
	if g.ErrorCode != nil {
		code = *g.ErrorCode
	}
	m.finished.WithLabelValues(string(g.Status), finishedErrorCode(g.Status, code)).Inc()
	if g.Status != store.StatusCompleted || g.CompletedAt == nil {
		return
	}
	due := g.CreatedAt
	if g.RunAt != nil && g.RunAt.After(due) {
		due = *g.RunAt
	}
	m.timeToComplete.Observe(g.CompletedAt.Sub(due).Seconds())
}

// GenerationFailed counts a generation this process just failed with
// errorCode, where the row itself is not at hand: GenerationFinished of a
// failed generation.
func (m *Metrics) GenerationFailed(errorCode string) {
	if m == nil {
		return
	}
	m.finished.WithLabelValues(string(store.StatusFailed), ErrorCodeLabel(errorCode)).Inc()
}

// ResultApplied counts a fal result that finished a generation, by where
// it came from (ResultFrom*).
func (m *Metrics) ResultApplied(source string) {
	if m == nil {
		return
	}
	m.resultsApplied.WithLabelValues(source).Inc()
}

// CallbackAttempted counts one callback attempt by outcome (Callback*).
func (m *Metrics) CallbackAttempted(outcome string) {
	if m == nil {
		return
	}
	m.callbacks.WithLabelValues(outcome).Inc()
}
