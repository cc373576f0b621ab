package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

// silent runs every request for an hour and sends no webhook: the tests
// deliver the results themselves.
var silent = falsim.Config{WebhookDropRate: 1, Latency: falsim.Latency{Min: time.Hour, Max: time.Hour}}

// runSender runs a FalCancelSender on b's database until the test ends,
// and returns a channel receiving how many cancels each of its runs
// claimed. No River client runs, so no reconciler does.
func (b *testBundle) runSender(t *testing.T) <-chan int {
	t.Helper()
	sender, err := jobs.NewFalCancelSender(b.pool, b.cfg)
	require.NoError(t, err)
	runs := make(chan int, 100)
	sender.WithAfterRun(func(claimed int) { runs <- claimed })
	ctx, stop := context.WithCancel(b.ctx)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		sender.Run(ctx)
	}()
	t.Cleanup(func() {
		stop()
		<-stopped
	})
	return runs
}

func nextRun(t *testing.T, runs <-chan int) int {
	t.Helper()
	select {
	case claimed := <-runs:
		return claimed
	case <-time.After(30 * time.Second):
		require.FailNow(t, "the sender did not run")
		return 0
	}
}

// The request a webhook's older result superseded is cancelled at fal as
// soon as the webhook has committed, by a worker process's sender woken by
// the webhook's notification, not at the reconciler's next run, by which
// time fal would have run and billed it.
func TestFalCancelSenderCancelsSupersededRequestAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, silent)
	first, second := b.submittedTwice(t)
	runs := b.runSender(t)
	// Once it listens, it looks for what was queued while nobody did.
	require.Equal(t, 0, nextRun(t, runs), "nothing queued yet")
	require.Equal(t, fal.StatusInProgress, b.falStatus(t, second).Status)

	got := b.completeWithOlder(t, second.ID, first)
	require.Equal(t, 1, nextRun(t, runs), "woken by the webhook's notification")
	status := b.falStatus(t, second)
	require.Equal(t, [2]string{fal.StatusCompleted, "client_cancelled"}, [2]string{status.Status, status.ErrorType},
		"request %s, superseded, is cancelled at fal", *second.FalRequestID)
	require.Empty(t, b.pendingCancels(t, got.ID), "fal answered the cancel")
	require.Equal(t, store.StatusCompleted, b.generation(t, got.ID).Status)
}

// Only a result that queues a superseded request's cancel notifies the
// senders: an ordinary webhook, the hot path, commits without a
// notification, and so does a duplicate of the superseding one.
func TestOnlyQueuedCancelsNotifySenders(t *testing.T) {
	t.Parallel()
	b := setup(t, silent)
	conn, err := pgx.Connect(b.ctx, b.url)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	_, err = conn.Exec(b.ctx, "LISTEN "+store.FalCancelQueuedChannel)
	require.NoError(t, err)
	next := func(t *testing.T) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		defer cancel()
		n, err := conn.WaitForNotification(ctx)
		require.NoError(t, err, "no notification")
		return n.Payload
	}

	ordinary := b.enqueue(t, "tests")
	require.NoError(t, b.submit(t, ordinary.ID))
	requestID := *b.generation(t, ordinary.ID).FalRequestID
	require.Equal(t, store.OutcomeApplied, b.deliverSigned(t, ordinary.ID, requestID, okWebhook(requestID)))
	require.Equal(t, store.StatusCompleted, b.generation(t, ordinary.ID).Status)

	first, second := b.submittedTwice(t)
	b.completeWithOlder(t, second.ID, first)
	require.Equal(t, store.OutcomeDuplicate, b.deliverSigned(t, second.ID, first, okWebhook(first)))

	// Notifications arrive in commit order: the superseding webhook's
	// comes first only if the ordinary one sent none, and the marker next
	// only if the duplicate sent none.
	_, err = b.pool.Exec(b.ctx, `SELECT pg_notify($1, 'marker')`, store.FalCancelQueuedChannel)
	require.NoError(t, err)
	require.Equal(t, string(store.FalCancelSuperseded), next(t))
	require.Equal(t, "marker", next(t))
}

func TestNewFalCancelSenderNamesWhatIsMissing(t *testing.T) {
	t.Parallel()
	b := setup(t, silent)
	for _, tt := range []struct {
		name string
		pool *pgxpool.Pool
		fal  jobs.Fal
		want string
	}{
		{name: "fal", pool: b.pool, fal: nil, want: "Config.Fal is nil"},
		{name: "typed nil fal", pool: b.pool, fal: (*fal.Client)(nil), want: "Config.Fal is nil"},
		{name: "pool", pool: nil, fal: b.fal, want: "pool is nil"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := b.cfg
			cfg.Fal = tt.fal
			sender, err := jobs.NewFalCancelSender(tt.pool, cfg)
			require.ErrorContains(t, err, tt.want)
			require.Nil(t, sender)
		})
	}
}
