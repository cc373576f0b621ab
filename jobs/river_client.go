package jobs

import (
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// Config configures the River client that runs Easel's workers.
type Config struct {
	Submitter Submitter
	// PublicURL is the base URL fal calls back (EASEL_PUBLIC_URL).
	PublicURL string
	// MaxWorkers bounds concurrent submissions (EASEL_WORKERS).
	MaxWorkers int
	Logger     *slog.Logger
}

// NewRiverClient returns a River client that runs Easel's workers on pool.
// Start it to work jobs; a client that is never started can still insert.
func NewRiverClient(pool *pgxpool.Pool, cfg Config) (*river.Client[pgx.Tx], error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, NewSubmitGenerationWorker(pool, cfg.Submitter, cfg.PublicURL, logger)); err != nil {
		return nil, fmt.Errorf("register workers: %w", err)
	}
	maxWorkers := cfg.MaxWorkers
	if maxWorkers <= 0 {
		maxWorkers = 16
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Logger:  logger,
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: maxWorkers}},
		Workers: workers,
	})
	if err != nil {
		return nil, fmt.Errorf("create River client: %w", err)
	}
	return client, nil
}
