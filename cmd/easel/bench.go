package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strconv"

	"github.com/easelhq/easel/internal/bench"
)

var benchHelp = help{
	usage: "bench [flags]",
	about: fmt.Sprintf(`Benchmarks the whole pipeline in this process: it creates a scratch database
(easel_bench_<time>_<random>) on DATABASE_URL's server, runs the anchors
(raw Postgres commits/s, River no-op jobs/s), then easel serve against the
in-process simulator with %s generations enqueued over HTTP, and drops
the database (--keep keeps it); then it seeds %s history rows in a
second scratch database (easel_bench_<time>_<random>_history), times
README's queries on them, and drops that one too. The defaults take several minutes and keep
every core busy, Postgres's included: run it on a machine nothing else
needs. Progress goes to stderr, the results to stdout. docs/BENCHMARKS.md
explains the results.`, thousands(bench.DefaultN), thousands(bench.DefaultHistoryRows)),
	env: [][2]string{
		{"DATABASE_URL", "the Postgres server the scratch database is created on\n(the database it names is not used)"},
		{"EASEL_WORKERS, ...", "easel serve's variables apply, as to easel serve; the caps\nFAL_MAX_INFLIGHT, EASEL_CLIENT_MAX_INFLIGHT and EASEL_CLIENT_MAX_PENDING\nare raised above --n"},
		{"EASEL_LOG_LEVEL", "checked as for every command; the in-process easel serve logs\nits warnings to stderr whatever it says"},
	},
}

// thousands writes n with commas between groups of three digits, as
// docs/BENCHMARKS.md does.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func benchCmd(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string, logger loggerFunc) error {
	fs := newFlagSet("bench")
	cfg := bench.Config{
		Getenv:   getenv,
		Progress: os.Stderr,
		Logger:   slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	fs.IntVar(&cfg.N, "n", bench.DefaultN, "generations to run through the pipeline")
	fs.IntVar(&cfg.Concurrency, "concurrency", bench.DefaultConcurrency, "HTTP clients enqueuing at once")
	fs.BoolVar(&cfg.SkipHistory, "skip-history", false, "skip seeding the history and timing its queries")
	fs.IntVar(&cfg.HistoryRows, "history-rows", bench.DefaultHistoryRows, "generations to seed the history with")
	fs.BoolVar(&cfg.KeepDatabase, "keep", false, "keep the bench database afterwards")
	fs.BoolVar(&cfg.NoInflightCap, "no-inflight-cap", false, "run without FAL_MAX_INFLIGHT, to measure what enforcing it costs")
	fs.Float64Var(&cfg.Rate, "rate", 0, "generations per second the clients offer in all during the load, open loop\n(0: closed loop, each client enqueuing once its previous enqueue was answered)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the pipeline's load phase to `file`")
	if err := parseFlags(fs, benchHelp, args, stdout); err != nil {
		return err
	}
	for _, f := range []struct {
		name  string
		value int
	}{{"n", cfg.N}, {"concurrency", cfg.Concurrency}, {"history-rows", cfg.HistoryRows}} {
		if f.value < 1 {
			return flagError("bench", fmt.Errorf("invalid value %d for flag -%s: must be more than 0", f.value, f.name))
		}
	}
	if !(cfg.Rate >= 0) || math.IsInf(cfg.Rate, 0) { // written to refuse NaN too
		return flagError("bench", fmt.Errorf("invalid value %v for flag -rate: must be a number of generations per second of 0 or more", cfg.Rate))
	}
	if _, err := logger(); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("create CPU profile: %w", err)
		}
		defer f.Close()
		cfg.CPUProfile = f
	}

	res, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return res.WriteTable(stdout)
}
