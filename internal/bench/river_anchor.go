package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/easelhq/easel/internal/serve"
	"github.com/easelhq/easel/jobs"
)

type noopArgs struct{}

func (noopArgs) Kind() string { return "easel_bench_noop" }

type noopWorker struct{ river.WorkerDefaults[noopArgs] }

func (noopWorker) Work(context.Context, *river.Job[noopArgs]) error { return nil }

// measureRiver returns how many no-op jobs per second River completes with
// the configuration and pool easel serve uses (jobs.RiverConfig with
// serveCfg's workers, a pool of servePoolMaxConns connections): n jobs are
// inserted first, then a client works them for at most d, timed from its
// Start's return, so that what starting costs (leader election, queue
// set-up) is not counted. Its ceiling is what River's fetch loop allows,
// whatever the work costs.
func measureRiver(ctx context.Context, dbURL string, serveCfg serve.Config, n int, d time.Duration, logger *slog.Logger, progress func(string, ...any)) (float64, error) {
	poolCfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return 0, errors.New("DATABASE_URL: not a valid connection string") // pgx hides a password only on a best-effort basis
	}
	poolCfg.MaxConns = servePoolMaxConns(serveCfg, dbURL, poolCfg.MaxConns)
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
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
	client, err := river.NewClient(riverpgxv5.New(pool), jobs.RiverConfig(jobs.Config{MaxWorkers: serveCfg.Workers, Logger: logger}, workers))
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
	called := time.Now()
	if err := client.Start(ctx); err != nil {
		return 0, fmt.Errorf("River anchor: start client: %w", err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = client.Stop(stopCtx)
	}()
	start := time.Now()
	// Jobs finished while Start ran are left out, with the time they took.
	early := len(completed)
	for range early {
		<-completed
	}
	if early == n {
		// Too few jobs to outlast Start (a small N on a busy machine): the
		// only figure left counts them from Start's call, start-up and all.
		return float64(n) / time.Since(called).Seconds(), nil
	}

	timeout := time.NewTimer(d)
	defer timeout.Stop()
	deadline := timeout.C
	var done int
	var reported atomic.Int64
	stop := heartbeat(progress, func(elapsed time.Duration) string {
		return fmt.Sprintf("anchor: %d River jobs completed in %s", reported.Load(), elapsed.Round(time.Second))
	})
	defer stop()
	for early+done < n {
		select {
		case <-completed:
			done++
			reported.Store(int64(done))
			if deadline == nil {
				return float64(done) / time.Since(start).Seconds(), nil
			}
		case <-deadline:
			if done > 0 {
				return float64(done) / time.Since(start).Seconds(), nil
			}
			// None yet: a rate of 0 would say River cannot work at all,
			// when it only has not started fetching within d. The first
			// completion ends the measurement instead.
			deadline = nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return float64(done) / time.Since(start).Seconds(), nil
}

// servePoolMaxConns is the size of easel serve's pool for cfg, as
// internal/serve's poolConfig (serve_database.go) decides it, which is
// unexported: EASEL_DB_MAX_CONNS wins, then a pool_max_conns in
// DATABASE_URL (which pgxpool parsed into parsed), then
// serve.DefaultDBMaxConns of the workers. Keep the two in step.
func servePoolMaxConns(cfg serve.Config, databaseURL string, parsed int32) int32 {
	switch {
	case cfg.DBMaxConns > 0:
		return int32(cfg.DBMaxConns)
	case strings.Contains(databaseURL, "pool_max_conns"):
		return parsed
	default:
		return int32(serve.DefaultDBMaxConns(cfg.Workers))
	}
}
