package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// commitAnchorConns is how many connections commit at once: enough for
// group commit to share each WAL flush among many transactions, the best
// any number of Easel processes could hope for on this server.
const commitAnchorConns = 50

// measureCommits returns how many single-row INSERT transactions per second
// commitAnchorConns connections complete in d: the most transactions the
// pipeline could ever commit on this server, durability settings included.
func measureCommits(ctx context.Context, dbURL string, d time.Duration, progress func(string, ...any)) (float64, error) {
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return 0, errors.New("DATABASE_URL: not a valid connection string") // pgx hides a password only on a best-effort basis
	}
	cfg.MaxConns = commitAnchorConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return 0, fmt.Errorf("commit anchor: connect: %w", err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `CREATE TABLE bench_commits (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, conn int NOT NULL)`); err != nil {
		return 0, fmt.Errorf("commit anchor: create table: %w", err)
	}
	defer func() { _, _ = pool.Exec(context.WithoutCancel(ctx), `DROP TABLE bench_commits`) }()

	// Connect every connection before the clock starts.
	conns := make([]*pgxpool.Conn, commitAnchorConns)
	for i := range conns {
		if conns[i], err = pool.Acquire(ctx); err != nil {
			for _, c := range conns[:i] {
				c.Release()
			}
			return 0, fmt.Errorf("commit anchor: connect: %w", err)
		}
	}

	var (
		commits  atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	start := time.Now()
	deadline := start.Add(d)
	stop := heartbeat(progress, func(elapsed time.Duration) string {
		return fmt.Sprintf("anchor: %d commits in %s", commits.Load(), elapsed.Round(time.Second))
	})
	for i, conn := range conns {
		wg.Go(func() {
			defer conn.Release()
			for time.Now().Before(deadline) {
				if _, err := conn.Exec(ctx, `INSERT INTO bench_commits (conn) VALUES ($1)`, i); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				commits.Add(1)
			}
		})
	}
	wg.Wait()
	stop()
	if firstErr != nil {
		return 0, fmt.Errorf("commit anchor: insert: %w", firstErr)
	}
	return float64(commits.Load()) / time.Since(start).Seconds(), nil
}
