package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"runtime"
	"time"

	"github.com/easelhq/easel/internal/serve"
	"github.com/easelhq/easel/migrations"
)

// Defaults of Config.
const (
	DefaultN              = 20_000
	DefaultConcurrency    = 64
	DefaultHistoryRows    = 1_000_000
	DefaultAnchorDuration = 5 * time.Second
)

// Config configures a bench run.
type Config struct {
	// Getenv reads easel serve's configuration, as easel serve would:
	// DATABASE_URL names the Postgres server (the bench creates its own
	// database there), EASEL_WORKERS and the like tune the pipeline. Nil
	// means every default.
	Getenv func(string) string

	// N is how many generations go through the pipeline; 0 means DefaultN.
	N int
	// Concurrency is how many HTTP clients enqueue at once; 0 means
	// DefaultConcurrency.
	Concurrency int
	// SkipHistory skips seeding the history and timing its queries.
	SkipHistory bool
	// HistoryRows is how many generations the history is seeded with; 0
	// means DefaultHistoryRows.
	HistoryRows int
	// AnchorDuration bounds each anchor measurement; 0 means
	// DefaultAnchorDuration.
	AnchorDuration time.Duration
	// KeepDatabase leaves the bench database in place for inspection.
	KeepDatabase bool
	// NoInflightCap runs the pipeline without FAL_MAX_INFLIGHT, to measure
	// what enforcing the cap costs. Otherwise the cap is set above N: it
	// never binds, but every submission pays for checking it.
	NoInflightCap bool
	// Rate, when more than 0, is how many generations per second the
	// clients offer in all during the load, whatever Easel answers (open
	// loop): latencies at a fixed offered rate. 0 means each client
	// enqueues its next generation as soon as the previous one was
	// accepted (closed loop).
	Rate float64

	// Progress receives a line now and then while the bench runs; nil
	// means none.
	Progress io.Writer
	// CPUProfile receives a CPU profile of the pipeline's load phase; nil
	// means none.
	CPUProfile io.Writer
	// Logger receives what the pipeline's easel serve logs at its level
	// (its info logs are otherwise discarded); nil means none.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Getenv == nil {
		c.Getenv = func(string) string { return "" }
	}
	if c.N <= 0 {
		c.N = DefaultN
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.HistoryRows <= 0 {
		c.HistoryRows = DefaultHistoryRows
	}
	if c.AnchorDuration <= 0 {
		c.AnchorDuration = DefaultAnchorDuration
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) progress(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, format+"\n", args...)
	}
}

// heartbeat reports message(time since the call) every progressInterval
// until stop is called, so that a step that reports nothing of its own
// (a COPY's end, VACUUM, an anchor) is never silent for long.
func heartbeat(progress func(string, ...any), message func(elapsed time.Duration) string) (stop func()) {
	start := time.Now()
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		ticker := time.NewTicker(progressInterval)
		defer ticker.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-ticker.C:
				progress("%s", message(now.Sub(start)))
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// Run creates a database, runs the anchors and the pipeline in it and drops
// it, then does the same with a second database for the history queries,
// so that the pipeline's rows do not sit among the seeded history.
func Run(ctx context.Context, cfg Config) (res *Result, err error) {
	cfg = cfg.withDefaults()
	if cfg.Rate < 0 || math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0) {
		return nil, fmt.Errorf("rate: %v is not a number of generations per second of 0 or more", cfg.Rate)
	}
	serveCfg, err := serve.ConfigFromEnv(cfg.Getenv)
	if err != nil {
		return nil, err
	}
	res = &Result{
		StartedAt:       time.Now().UTC().Truncate(time.Second),
		N:               cfg.N,
		Concurrency:     cfg.Concurrency,
		OfferedRatePerS: cfg.Rate,
		CPUs:            runtime.NumCPU(),
		GoMaxProcs:      runtime.GOMAXPROCS(0),
		GoVersion:       runtime.Version(),
		Warnings:        []string{},
		RecipesMs:       map[string]float64{},
		RecipesFirstMs:  map[string]float64{},
		Queries:         []QueryTiming{},
	}

	db, err := createDatabase(ctx, serveCfg.DatabaseURL, "")
	if err != nil {
		return nil, err
	}
	res.Database = db.name
	defer func() {
		if dropErr := db.dropUnlessKept(context.WithoutCancel(ctx), cfg); dropErr != nil && err == nil {
			err = dropErr
		}
	}()
	cfg.progress("bench: database %s created; migrating it", db.name)
	if err := migrations.Up(ctx, db.url, nil); err != nil {
		return nil, err
	}
	if res.Postgres, res.Durability, err = readServer(ctx, db.url); err != nil {
		return nil, err
	}
	for _, w := range res.Durability.warnings() {
		res.Warnings = append(res.Warnings, w)
		cfg.progress("WARNING: %s", w)
	}

	cfg.progress("anchor: raw Postgres commits (%d connections, %s)", commitAnchorConns, cfg.AnchorDuration)
	if res.RawCommitsPerSec, err = measureCommits(ctx, db.url, cfg.AnchorDuration, cfg.progress); err != nil {
		return nil, err
	}
	cfg.progress("anchor: %.0f raw Postgres commits/s", res.RawCommitsPerSec)
	cfg.progress("anchor: River no-op jobs (%d jobs, at most %s)", cfg.N, cfg.AnchorDuration)
	if res.RiverNoopJobsPerSec, err = measureRiver(ctx, db.url, serveCfg, cfg.N, cfg.AnchorDuration, cfg.Logger, cfg.progress); err != nil {
		return nil, err
	}
	cfg.progress("anchor: %.0f River no-op jobs/s", res.RiverNoopJobsPerSec)

	if err := runPipeline(ctx, cfg, db, serveCfg, res); err != nil {
		return nil, err
	}
	res.CommitBoundRatio = res.E2EGenerationsPerSec * 3 / res.RawCommitsPerSec

	if !cfg.SkipHistory {
		if err := runHistory(ctx, cfg, serveCfg.DatabaseURL, res); err != nil {
			return nil, err
		}
	}

	if res.PeakRSSMB, err = peakRSSMB(); err != nil {
		return nil, err
	}
	return res, nil
}
