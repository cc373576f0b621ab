package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is what a run measured. Its JSON names are easel bench --json's.
type Result struct {
	StartedAt   time.Time `json:"started_at"`
	Database    string    `json:"database"`
	N           int       `json:"n"`
	Concurrency int       `json:"concurrency"`
	// OfferedRatePerS is --rate: the generations per second the clients
	// offered during the load, or 0 for a closed loop.
	OfferedRatePerS float64 `json:"offered_rate_per_s"`
	Workers         int     `json:"workers"`
	MaxInflight     int     `json:"max_inflight"`
	// DBMaxConns is the size of easel serve's pool, which the River anchor
	// uses too.
	DBMaxConns int    `json:"db_max_conns"`
	CPUs       int    `json:"cpus"`
	GoMaxProcs int    `json:"gomaxprocs"`
	GoVersion  string `json:"go_version"`
	Postgres   string `json:"postgres"`
	// Durability is the server's, as the bench database's sessions see it.
	Durability
	// Warnings are what makes the figures of this run suspect, such as
	// durability settings that make commits cheaper than durable ones.
	Warnings []string `json:"warnings"`

	// Anchors: what this machine allows at all.
	RawCommitsPerSec    float64 `json:"raw_commits_per_s"`
	RiverNoopJobsPerSec float64 `json:"river_noop_jobs_per_s"`

	// The pipeline. Latencies of the load phase unless named idle.
	E2EGenerationsPerSec float64 `json:"e2e_generations_per_s"`
	// EnqueuesPerSec is the rate the load's enqueues were accepted at:
	// N ÷ (first sent → last answered). Below OfferedRatePerS, the clients
	// could not keep to the offered rate.
	EnqueuesPerSec float64 `json:"enqueues_per_s"`
	// CommitBoundRatio is e2e × 3 ÷ raw commits: 1 would mean the pipeline
	// runs as fast as three bare commits per generation allow.
	CommitBoundRatio float64 `json:"commit_bound_ratio"`
	// CommitsPerGeneration is (LoadCommits − ServeStartStopCommits) ÷
	// (N + WarmupGenerations): the load's server ran the warm-up too.
	CommitsPerGeneration float64 `json:"commits_per_generation"`
	// LoadCommits are the bench database's commits from the start of the
	// load's easel serve to its stop; ServeStartStopCommits those of an
	// easel serve started and stopped at once, just before.
	LoadCommits           int64   `json:"load_commits"`
	ServeStartStopCommits int64   `json:"serve_start_stop_commits"`
	EnqueueP50Ms          float64 `json:"enqueue_p50_ms"`
	EnqueueP99Ms          float64 `json:"enqueue_p99_ms"`
	// Enqueue → submitted: created_at to the simulator's acceptance of
	// the submission, for the idle probes (the headline) and the load,
	// each with the number of generations it is of.
	EnqueueToSubmittedP50Ms         float64 `json:"enqueue_to_submitted_p50_ms"`
	EnqueueToSubmittedSamples       int     `json:"enqueue_to_submitted_samples"`
	LoadedEnqueueToSubmittedP50Ms   float64 `json:"loaded_enqueue_to_submitted_p50_ms"`
	LoadedEnqueueToSubmittedSamples int     `json:"loaded_enqueue_to_submitted_samples"`
	// ClockOffsetMs is how far Postgres's clock was ahead of this
	// process's, which enqueue → submitted corrects for.
	ClockOffsetMs     float64 `json:"clock_offset_ms"`
	WebhookP50Ms      float64 `json:"webhook_p50_ms"`
	WebhookP99Ms      float64 `json:"webhook_p99_ms"`
	CompleteP50Ms     float64 `json:"complete_p50_ms"`
	CompleteP99Ms     float64 `json:"complete_p99_ms"`
	IdleCompleteP50Ms float64 `json:"idle_complete_p50_ms"`
	// WarmupGenerations ran, unmeasured, in the load's easel serve before
	// the load, and as many in the idle phase's before its probes.
	WarmupGenerations int `json:"warmup_generations"`
	// BurstEnqueueToSubmittedMaxMs is the slowest submission of the idle
	// bursts of concurrent enqueues.
	BurstEnqueueToSubmittedMaxMs   float64   `json:"burst_enqueue_to_submitted_max_ms"`
	BurstEnqueueToSubmittedSamples int       `json:"burst_enqueue_to_submitted_samples"`
	Completed                      int       `json:"completed"`
	Failed                         int       `json:"failed"`
	WebhookFailures                int       `json:"webhook_failures"`
	DatabaseActivity               *Activity `json:"database_activity"`

	// History, in a database of its own; empty when skipped. HistoryRows
	// is the generations the queries ran on, counted after seeding.
	HistoryDatabase    string             `json:"history_database"`
	HistoryRows        int                `json:"history_rows"`
	HistorySeedSeconds float64            `json:"history_seed_s"`
	RecipesMs          map[string]float64 `json:"recipes_ms"`
	RecipesFirstMs     map[string]float64 `json:"recipes_first_ms"`
	Queries            []QueryTiming      `json:"queries"`

	PeakRSSMB float64 `json:"peak_rss_mb"`
}

// QueryTiming is one history query on the seeded table.
type QueryTiming struct {
	Name string `json:"name"`
	// Kind is "recipe" (README's SQL) or "list" (a list query of store).
	Kind string `json:"kind"`
	// FirstMs is the wall time of the first run, right after seeding and
	// VACUUM, its statements not yet prepared on the connection.
	FirstMs float64 `json:"first_ms"`
	// Ms is the median wall time of several runs after the first.
	Ms float64 `json:"ms"`
	// PlanRecorded is false when auto_explain could not be loaded, and the
	// plan fields below are empty. IndexUsed reports whether the plans find
	// their generations through an index: some index read, and no Seq Scan
	// on generations. Indexes names the indexes read and SeqScans the
	// tables read whole.
	PlanRecorded bool     `json:"plan_recorded"`
	IndexUsed    bool     `json:"index_used"`
	Indexes      []string `json:"indexes"`
	SeqScans     []string `json:"seq_scans"`
	// ParallelWorkers is the most workers a Gather of the plans planned,
	// 0 for a serial plan. SerialMs, only for a parallel plan, is the
	// median of as many runs with max_parallel_workers_per_gather = 0: on
	// a machine slow to start a worker process, the serial plan is faster.
	ParallelWorkers int     `json:"parallel_workers"`
	SerialMs        float64 `json:"serial_ms,omitempty"`
	// SerialWorkers is what the serial runs' plans planned: 0, unless
	// parallel query could not be turned off.
	SerialWorkers int `json:"serial_workers,omitempty"`
}

// planSummary says in a few words how q's plans read tables.
func planSummary(q QueryTiming) string {
	if !q.PlanRecorded {
		return "plan unknown" // auto_explain could not be loaded
	}
	s := "no index"
	if q.IndexUsed {
		s = "index"
	}
	if len(q.Indexes) > 0 {
		s += ": " + strings.Join(q.Indexes, ", ")
	}
	if len(q.SeqScans) > 0 {
		s += "; seq scan: " + strings.Join(q.SeqScans, ", ")
	}
	if q.ParallelWorkers > 0 {
		s += fmt.Sprintf("; %d parallel workers, serial %.1f ms", q.ParallelWorkers, q.SerialMs)
	}
	return s
}

// WriteTable writes r for people.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(tw, "  %s\t"+format+"\n", append([]any{name}, args...)...)
	}

	inflightCap := "off"
	if r.MaxInflight > 0 {
		inflightCap = fmt.Sprint(r.MaxInflight)
	}
	load := "closed loop"
	if r.OfferedRatePerS > 0 {
		load = fmt.Sprintf("offered %g/s", r.OfferedRatePerS)
	}
	fmt.Fprintf(tw, "easel bench, %s: N=%d, concurrency=%d (%s), EASEL_WORKERS=%d, pool %d, FAL_MAX_INFLIGHT=%s, %d CPUs (GOMAXPROCS %d), %s\n",
		r.StartedAt.Format(time.RFC3339), r.N, r.Concurrency, load, r.Workers, r.DBMaxConns, inflightCap, r.CPUs, r.GoMaxProcs, r.GoVersion)
	fmt.Fprintf(tw, "PostgreSQL %s: synchronous_commit=%s, fsync=%s, full_page_writes=%s\n",
		r.Postgres, r.SynchronousCommit, r.Fsync, r.FullPageWrites)
	for _, warning := range r.Warnings {
		fmt.Fprintf(tw, "WARNING: %s\n", warning)
	}
	fmt.Fprintln(tw, "\nanchors")
	row(fmt.Sprintf("raw Postgres commits/s (%d connections)", commitAnchorConns), "%.0f", r.RawCommitsPerSec)
	row("River no-op jobs/s (Easel's River settings and pool)", "%.0f", r.RiverNoopJobsPerSec)

	fmt.Fprintln(tw, "\npipeline (simulator at zero latency)")
	row("generations/s, end to end", "%.0f", r.E2EGenerationsPerSec)
	if r.OfferedRatePerS > 0 {
		row("enqueues/s accepted (offered)", "%.0f (%g)", r.EnqueuesPerSec, r.OfferedRatePerS)
	}
	row("commit-bound ratio (e2e × 3 ÷ raw commits/s)", "%.2f", r.CommitBoundRatio)
	row("commits per generation, load", "%.2f (%d for %d + %d warm-up generations, less %d for starting and stopping easel serve)",
		r.CommitsPerGeneration, r.LoadCommits, r.N, r.WarmupGenerations, r.ServeStartStopCommits)
	row("enqueue HTTP latency p50 / p99", "%.1f / %.1f ms", r.EnqueueP50Ms, r.EnqueueP99Ms)
	row("enqueue → submitted p50, idle / loaded", "%.1f / %.1f ms (%d / %d samples)",
		r.EnqueueToSubmittedP50Ms, r.LoadedEnqueueToSubmittedP50Ms, r.EnqueueToSubmittedSamples, r.LoadedEnqueueToSubmittedSamples)
	row("webhook send → ack p50 / p99", "%.1f / %.1f ms", r.WebhookP50Ms, r.WebhookP99Ms)
	row("enqueue → completed p50 / p99", "%.1f / %.1f ms", r.CompleteP50Ms, r.CompleteP99Ms)
	row("enqueue → completed p50, idle", "%.1f ms", r.IdleCompleteP50Ms)
	row(fmt.Sprintf("enqueue → submitted max, %d idle bursts of %d", burstCount, burstSize), "%.1f ms (%d samples)",
		r.BurstEnqueueToSubmittedMaxMs, r.BurstEnqueueToSubmittedSamples)
	row("completed / failed / failed webhook deliveries", "%d / %d / %d", r.Completed, r.Failed, r.WebhookFailures)

	if a := r.DatabaseActivity; a != nil {
		fmt.Fprintf(tw, "\ndatabase connections during the load (average active sessions, %d samples)\n", a.Samples)
		for _, s := range a.Waits {
			row(s.Name, "%.2f", s.AvgSessions)
		}
		fmt.Fprintln(tw, "\nbusiest statements (average active sessions)")
		for _, s := range a.Statements {
			row(s.Name, "%.2f", s.AvgSessions)
		}
	}

	if r.HistoryRows > 0 {
		fmt.Fprintf(tw, "\nhistory (%d generations, seeded by COPY in %.1f s; median of %d runs / first run)\n", r.HistoryRows, r.HistorySeedSeconds, historyRuns)
		for _, q := range r.Queries {
			row(q.Kind+" "+q.Name, "%.1f ms\t%.1f ms\t%s", q.Ms, q.FirstMs, planSummary(q))
		}
	}

	fmt.Fprintln(tw)
	row("peak RSS", "%.0f MB", r.PeakRSSMB)
	return tw.Flush()
}
