package jobs

import (
	"log/slog"
	"slices"
	"time"

	"github.com/riverqueue/river"
)

// fetchCooldown is the least time between two fetches of a queue, and
// between two insert notifications from one process. River's default of
// 100 ms caps a queue at MaxWorkers jobs per 100 ms (160/s with 16 workers)
// and leaves a job enqueued soon after another waiting for the next fetch;
// 10 ms costs a busy queue at most 100 fetches a second. docs/BENCHMARKS.md
// has the measurements.
const fetchCooldown = 10 * time.Millisecond

// RiverConfig is the River configuration Easel works jobs with, around
// workers. NewRiverClient uses it, adding the reconciler's periodic job;
// easel bench runs no-op jobs through it to measure River alone under the
// same settings.
func RiverConfig(cfg Config, workers *river.Workers) *river.Config {
	cfg = cfg.withDefaults()
	return &river.Config{
		FetchCooldown: fetchCooldown,
		Logger:        slog.New(newRiverLogHandler(cfg.Logger.Handler())),
		Queues: map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: cfg.MaxWorkers},
			QueueReconcile:     {MaxWorkers: 1},
			QueueCallbacks:     {MaxWorkers: callbackWorkers},
		},
		Middleware:           append(slices.Clip(cfg.Middleware), cfg.Metrics.WorkerMiddleware()),
		Workers:              workers,
		JobTimeout:           cfg.jobTimeout(),
		RescueStuckJobsAfter: cfg.RescueAfter,
	}
}
