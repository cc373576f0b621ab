package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5"

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

// Run creates a database, runs the anchors, the pipeline and the history
// queries in it, in that order, and drops it.
func Run(ctx context.Context, cfg Config) (res *Result, err error) {
	cfg = cfg.withDefaults()
	serveCfg, err := serve.ConfigFromEnv(cfg.Getenv)
	if err != nil {
		return nil, err
	}
	res = &Result{
		StartedAt:   time.Now().UTC().Truncate(time.Second),
		N:           cfg.N,
		Concurrency: cfg.Concurrency,
		CPUs:        runtime.NumCPU(),
		GoMaxProcs:  runtime.GOMAXPROCS(0),
		GoVersion:   runtime.Version(),
		RecipesMs:   map[string]float64{},
		Queries:     []QueryTiming{},
	}

	db, err := createDatabase(ctx, serveCfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	res.Database = db.name
	defer func() {
		if cfg.KeepDatabase {
			cfg.progress("kept database %s", db.name)
			return
		}
		if dropErr := db.drop(context.WithoutCancel(ctx)); dropErr != nil && err == nil {
			err = dropErr
		}
	}()
	if err := migrations.Up(ctx, db.url, nil); err != nil {
		return nil, err
	}
	if res.Postgres, err = serverVersion(ctx, db.url); err != nil {
		return nil, err
	}

	cfg.progress("anchor: raw Postgres commits (%d connections, %s)", commitAnchorConns, cfg.AnchorDuration)
	if res.RawCommitsPerSec, err = measureCommits(ctx, db.url, cfg.AnchorDuration); err != nil {
		return nil, err
	}
	cfg.progress("anchor: River no-op jobs (%d jobs, at most %s)", cfg.N, cfg.AnchorDuration)
	if res.RiverNoopJobsPerSec, err = measureRiver(ctx, db.url, serveCfg.Workers, cfg.N, cfg.AnchorDuration, cfg.Logger); err != nil {
		return nil, err
	}

	cfg.progress("pipeline: %d generations from %d clients", cfg.N, cfg.Concurrency)
	if err := runPipeline(ctx, cfg, db, serveCfg, res); err != nil {
		return nil, err
	}
	res.CommitBoundRatio = res.E2EGenerationsPerSec * 3 / res.RawCommitsPerSec

	if !cfg.SkipHistory {
		res.HistoryRows = cfg.HistoryRows
		if err := runHistory(ctx, cfg, db, res); err != nil {
			return nil, err
		}
	}

	if res.PeakRSSMB, err = peakRSSMB(); err != nil {
		return nil, err
	}
	return res, nil
}

func serverVersion(ctx context.Context, dbURL string) (string, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return "", fmt.Errorf("connect to the bench database: %w", err)
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, `SHOW server_version`).Scan(&v); err != nil {
		return "", fmt.Errorf("read server version: %w", err)
	}
	return v, nil
}
