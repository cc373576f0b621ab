package jobs_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/jobs"
)

// fetchedWorker stands in for the submit worker: it reports each
// generation whose job River fetched.
type fetchedWorker struct {
	river.WorkerDefaults[jobs.SubmitGenerationArgs]
	fetched chan uuid.UUID
}

func (w *fetchedWorker) Work(_ context.Context, job *river.Job[jobs.SubmitGenerationArgs]) error {
	w.fetched <- job.Args.GenerationID
	return nil
}

// Every generation EnqueuePool commits wakes the workers, bursts included:
// with River's poll an hour away, a job that no notification announced
// after its commit would never be fetched. River's notification, sent from
// the inserting transaction at most once per FetchCooldown, left one job
// in about three of such a burst waiting for the poll.
func TestEnqueuePoolWakesWorkersAfterCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)

	worker := &fetchedWorker{fetched: make(chan uuid.UUID, 100)}
	workers := river.NewWorkers()
	river.AddWorker(workers, worker)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		FetchCooldown:     10 * time.Millisecond,
		FetchPollInterval: time.Hour,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 10}},
		Workers:           workers,
	})
	require.NoError(t, err)
	require.NoError(t, client.Start(ctx))
	t.Cleanup(func() { require.NoError(t, client.Stop(context.Background())) })

	const bursts, perBurst = 10, 3
	for range bursts {
		type result struct {
			id  uuid.UUID
			err error
		}
		results := make(chan result, perBurst)
		var wg sync.WaitGroup
		for range perBurst {
			wg.Go(func() {
				enqueued, err := jobs.EnqueuePool(ctx, pool, "billing", enqueueTestInput, nil)
				if err != nil {
					results <- result{err: err}
					return
				}
				results <- result{id: enqueued.Generation.ID}
			})
		}
		wg.Wait()
		close(results)

		want := map[uuid.UUID]bool{}
		for r := range results {
			require.NoError(t, r.err)
			want[r.id] = true
		}
		for len(want) > 0 {
			select {
			case id := <-worker.fetched:
				require.True(t, want[id], "fetched %s, not of this burst", id)
				delete(want, id)
			case <-time.After(30 * time.Second):
				require.Failf(t, "jobs not fetched", "%d of the burst's %d jobs still wait for River's poll", len(want), perBurst)
			}
		}
	}
}
