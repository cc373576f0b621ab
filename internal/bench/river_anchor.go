package bench

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/easelhq/easel/jobs"
)

type noopArgs struct{}

func (noopArgs) Kind() string { return "easel_bench_noop" }

type noopWorker struct{ river.WorkerDefaults[noopArgs] }

func (noopWorker) Work(context.Context, *river.Job[noopArgs]) error { return nil }

// measureRiver returns how many no-op jobs per second River completes with
// the configuration and pool easel serve uses (jobs.RiverConfig with
// maxWorkers, pgxpool's defaults): n jobs are inserted first, then a client
// works them for at most d. Its ceiling is what River's fetch loop allows,
// whatever the work costs.
func measureRiver(ctx context.Context, dbURL string, maxWorkers, n int, d time.Duration, logger *slog.Logger) (float64, error) {
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return 0, fmt.Errorf("River anchor: connect: %w", err)
	}
	defer pool.Close()
	defer func() {
		// Leave the pipeline an empty job table, as production starts.
		_, _ = pool.Exec(context.WithoutCancel(ctx), `DELETE FROM river_job WHERE kind = $1`, noopArgs{}.Kind())
	}()

	workers := river.NewWorkers()
	river.AddWorker(workers, noopWorker{})
	client, err := river.NewClient(riverpgxv5.New(pool), jobs.RiverConfig(jobs.Config{MaxWorkers: maxWorkers, Logger: logger}, workers))
	if err != nil {
		return 0, fmt.Errorf("River anchor: create client: %w", err)
	}

	const batch = 1000
	params := make([]river.InsertManyParams, 0, batch)
	for inserted := 0; inserted < n; inserted += len(params) {
		params = params[:0]
		for range min(batch, n-inserted) {
			params = append(params, river.InsertManyParams{Args: noopArgs{}})
		}
		if _, err := client.InsertManyFast(ctx, params); err != nil {
			return 0, fmt.Errorf("River anchor: insert jobs: %w", err)
		}
	}

	completed, cancel := client.SubscribeConfig(&river.SubscribeConfig{ChanSize: n, Kinds: []river.EventKind{river.EventKindJobCompleted}})
	defer cancel()
	start := time.Now()
	if err := client.Start(ctx); err != nil {
		return 0, fmt.Errorf("River anchor: start client: %w", err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = client.Stop(stopCtx)
	}()

	timeout := time.NewTimer(d)
	defer timeout.Stop()
	done := 0
	for done < n {
		select {
		case <-completed:
			done++
		case <-timeout.C:
			return float64(done) / time.Since(start).Seconds(), nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return float64(done) / time.Since(start).Seconds(), nil
}
