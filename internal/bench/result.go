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
	Workers     int       `json:"workers"`
	MaxInflight int       `json:"max_inflight"`
	CPUs        int       `json:"cpus"`
	GoMaxProcs  int       `json:"gomaxprocs"`
	GoVersion   string    `json:"go_version"`
	Postgres    string    `json:"postgres"`

	// Anchors: what this machine allows at all.
	RawCommitsPerSec    float64 `json:"raw_commits_per_s"`
	RiverNoopJobsPerSec float64 `json:"river_noop_jobs_per_s"`

	// The pipeline. Latencies of the load phase unless named idle.
	E2EGenerationsPerSec float64 `json:"e2e_generations_per_s"`
	// CommitBoundRatio is e2e × 3 ÷ raw commits: 1 would mean the pipeline
	// runs as fast as three bare commits per generation allow.
	CommitBoundRatio              float64 `json:"commit_bound_ratio"`
	CommitsPerGeneration          float64 `json:"commits_per_generation"`
	EnqueueP50Ms                  float64 `json:"enqueue_p50_ms"`
	EnqueueP99Ms                  float64 `json:"enqueue_p99_ms"`
	EnqueueToSubmittedP50Ms       float64 `json:"enqueue_to_submitted_p50_ms"` // idle probes
	LoadedEnqueueToSubmittedP50Ms float64 `json:"loaded_enqueue_to_submitted_p50_ms"`
	WebhookP50Ms                  float64 `json:"webhook_p50_ms"`
	WebhookP99Ms                  float64 `json:"webhook_p99_ms"`
	CompleteP50Ms                 float64 `json:"complete_p50_ms"`
	CompleteP99Ms                 float64 `json:"complete_p99_ms"`
	IdleCompleteP50Ms             float64 `json:"idle_complete_p50_ms"`
	// BurstEnqueueToSubmittedMaxMs is the slowest submission of the idle
	// bursts of concurrent enqueues.
	BurstEnqueueToSubmittedMaxMs float64   `json:"burst_enqueue_to_submitted_max_ms"`
	Completed                    int       `json:"completed"`
	Failed                       int       `json:"failed"`
	WebhookFailures              int       `json:"webhook_failures"`
	DatabaseActivity             *Activity `json:"database_activity"`

	// History; empty when skipped.
	HistoryRows        int                `json:"history_rows"`
	HistorySeedSeconds float64            `json:"history_seed_s"`
	RecipesMs          map[string]float64 `json:"recipes_ms"`
	Queries            []QueryTiming      `json:"queries"`

	PeakRSSMB float64 `json:"peak_rss_mb"`
}

// QueryTiming is one history query on the seeded table.
type QueryTiming struct {
	Name string `json:"name"`
	// Kind is "recipe" (README's SQL) or "list" (a list query of store).
	Kind string `json:"kind"`
	// Ms is the median wall time of several runs after a warm-up.
	Ms float64 `json:"ms"`
	// IndexUsed reports whether the plan reads any index; Indexes names
	// them and SeqScans the tables it reads whole. All are empty when
	// auto_explain could not be loaded.
	IndexUsed bool     `json:"index_used"`
	Indexes   []string `json:"indexes"`
	SeqScans  []string `json:"seq_scans"`
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
	fmt.Fprintf(tw, "easel bench, %s: N=%d, concurrency=%d, EASEL_WORKERS=%d, FAL_MAX_INFLIGHT=%s, %d CPUs (GOMAXPROCS %d), %s, PostgreSQL %s\n",
		r.StartedAt.Format(time.RFC3339), r.N, r.Concurrency, r.Workers, inflightCap, r.CPUs, r.GoMaxProcs, r.GoVersion, r.Postgres)
	fmt.Fprintln(tw, "\nanchors")
	row(fmt.Sprintf("raw Postgres commits/s (%d connections)", commitAnchorConns), "%.0f", r.RawCommitsPerSec)
	row("River no-op jobs/s (Easel's River settings)", "%.0f", r.RiverNoopJobsPerSec)

	fmt.Fprintln(tw, "\npipeline (simulator at zero latency)")
	row("generations/s, end to end", "%.0f", r.E2EGenerationsPerSec)
	row("commit-bound ratio (e2e × 3 ÷ raw commits/s)", "%.2f", r.CommitBoundRatio)
	row("commits per generation", "%.2f", r.CommitsPerGeneration)
	row("enqueue HTTP latency p50 / p99", "%.1f / %.1f ms", r.EnqueueP50Ms, r.EnqueueP99Ms)
	row("enqueue → submitted p50, idle / loaded", "%.1f / %.1f ms", r.EnqueueToSubmittedP50Ms, r.LoadedEnqueueToSubmittedP50Ms)
	row("webhook send → ack p50 / p99", "%.1f / %.1f ms", r.WebhookP50Ms, r.WebhookP99Ms)
	row("enqueue → completed p50 / p99", "%.1f / %.1f ms", r.CompleteP50Ms, r.CompleteP99Ms)
	row("enqueue → completed p50, idle", "%.1f ms", r.IdleCompleteP50Ms)
	row(fmt.Sprintf("enqueue → submitted max, %d idle bursts of %d", burstCount, burstSize), "%.1f ms", r.BurstEnqueueToSubmittedMaxMs)
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
		fmt.Fprintf(tw, "\nhistory (%d generations seeded by COPY in %.1f s)\n", r.HistoryRows, r.HistorySeedSeconds)
		for _, q := range r.Queries {
			plan := "plan unknown" // auto_explain could not be loaded
			switch {
			case q.IndexUsed:
				plan = "index: " + strings.Join(q.Indexes, ", ")
			case len(q.SeqScans) > 0:
				plan = "no index: " + strings.Join(q.SeqScans, ", ")
			}
			row(q.Kind+" "+q.Name, "%.1f ms\t%s", q.Ms, plan)
		}
	}

	fmt.Fprintln(tw)
	row("peak RSS", "%.0f MB", r.PeakRSSMB)
	return tw.Flush()
}
