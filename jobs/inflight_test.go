package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

// Two processes, each with its own pool and River client, share
// FAL_MAX_INFLIGHT: fal never runs more than the cap at once, every
// generation completes (the leader's reconciler polling for the dropped
// webhooks), and nothing is submitted twice.
func TestInflightCapAcrossProcesses(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{
		Seed:            3,
		Latency:         falsim.Latency{Min: 20 * time.Millisecond, Max: 80 * time.Millisecond},
		WebhookDropRate: 0.1,
	})
	const n, limit = 30, 3
	b.cfg.Limits = store.InflightLimits{Global: limit}
	b.cfg.PollAfter = 200 * time.Millisecond
	b.cfg.MaxWorkers = 8

	finished := b.listenFinished(t)
	ids := make(map[uuid.UUID]bool, n)
	for range n {
		ids[b.enqueue(t, "tests").ID] = true
	}
	for range 2 {
		pool, err := pgxpool.New(b.ctx, b.url)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		client, err := jobs.NewRiverClient(pool, b.cfg)
		require.NoError(t, err)
		require.NoError(t, client.Start(b.ctx))
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, client.Stop(ctx))
		})
	}
	for len(ids) > 0 {
		delete(ids, finished(t))
	}

	stats := b.sim.Sim.Stats()
	require.LessOrEqual(t, stats.MaxInProgress, limit)
	require.Equal(t, n, stats.Submissions)
	require.Zero(t, stats.DuplicateSubmissions)
	require.Positive(t, stats.WebhooksDropped)

	var completed, images, polled int
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT count(*) FILTER (WHERE status = 'completed'),
			(SELECT count(*) FROM generation_images),
			count(*) FILTER (WHERE last_webhook_at IS NULL)
		FROM generations`).Scan(&completed, &images, &polled))
	require.Equal(t, n, completed)
	require.Equal(t, 2*n, images)
	require.Equal(t, stats.WebhooksDropped, polled, "the reconciler completed those whose webhook was dropped")
}

// A client at its own cap waits while another client's generation goes
// ahead.
func TestClientInflightCap(t *testing.T) {
	t.Parallel()
	b := setup(t, running)
	b.cfg.Limits = store.InflightLimits{Global: 10, PerClient: 1}

	first := b.enqueue(t, "burst")
	require.NoError(t, b.submit(t, first.ID))
	second := b.enqueue(t, "burst")
	d := snoozed(t, b.submit(t, second.ID))
	require.Positive(t, d)
	require.Equal(t, store.StatusQueued, b.generation(t, second.ID).Status)
	require.Zero(t, b.generation(t, second.ID).Attempts, "waiting for a slot is not an attempt")

	other := b.enqueue(t, "other")
	require.NoError(t, b.submit(t, other.ID))
	require.Equal(t, store.StatusSubmitted, b.generation(t, other.ID).Status)
}

// listenFinished returns a function that waits for the next generation to
// be announced as finished and returns its id. An announcement may name
// several generations; they are returned one by one.
func (b *testBundle) listenFinished(t *testing.T) func(t *testing.T) uuid.UUID {
	t.Helper()
	conn, err := pgx.Connect(b.ctx, b.url)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	_, err = conn.Exec(b.ctx, "LISTEN "+store.GenerationFinishedChannel)
	require.NoError(t, err)
	var announced []uuid.UUID
	return func(t *testing.T) uuid.UUID {
		t.Helper()
		if len(announced) == 0 {
			ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
			defer cancel()
			n, err := conn.WaitForNotification(ctx)
			require.NoError(t, err, "no generation finished")
			for id := range strings.SplitSeq(n.Payload, ",") {
				announced = append(announced, uuid.MustParse(id))
			}
		}
		id := announced[0]
		announced = announced[1:]
		return id
	}
}
