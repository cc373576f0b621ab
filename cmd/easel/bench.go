package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/easelhq/easel/internal/bench"
)

func benchCmd(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
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
	asJSON := fs.Bool("json", false, "print the result as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the pipeline's load phase to `file`")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if err := noArgs("bench", fs); err != nil {
		return err
	}
	if cfg.N < 1 || cfg.Concurrency < 1 || cfg.HistoryRows < 1 {
		return fmt.Errorf("%w: --n, --concurrency and --history-rows must be positive", errUsage)
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
