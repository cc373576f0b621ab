package store_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// submitTo inserts a generation submitted to the fal queue at base, as the
// submit worker records it.
func (b *testBundle) submitTo(t *testing.T, base string) *store.Generation {
	t.Helper()
	g := b.insert(t, "")
	_, err := store.MarkSubmitting(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	requestID := uuid.NewString()
	urls := base + "/fal-ai/fooocus/requests/" + requestID
	g, err = store.RecordSubmitted(b.ctx, b.pool, g.ID, store.Submission{
		RequestID: requestID, StatusURL: urls + "/status", ResponseURL: urls, CancelURL: urls + "/cancel",
	})
	require.NoError(t, err)
	return g
}

func (b *testBundle) status(t *testing.T, id uuid.UUID) (store.Status, string, string) {
	t.Helper()
	g, err := store.GetGeneration(b.ctx, b.pool, id)
	require.NoError(t, err)
	var code, message string
	if g.ErrorCode != nil {
		code, message = *g.ErrorCode, *g.ErrorMessage
	}
	return g.Status, code, message
}

// holdSimulator holds the simulator lock of queueHost on a session of its
// own until the test ends, as a live easel serve does.
func holdSimulator(t *testing.T, pool *pgxpool.Pool, queueHost string) *pgxpool.Conn {
	t.Helper()
	conn, err := pool.Acquire(context.Background())
	require.NoError(t, err)
	t.Cleanup(conn.Release)
	require.NoError(t, store.HoldSimulator(context.Background(), conn, queueHost))
	return conn
}

func TestSubmittedQueueHosts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.submitTo(t, "http://127.0.0.1:38703")
	b.submitTo(t, "http://127.0.0.1:38703")
	b.submitTo(t, "https://queue.fal.run")
	b.submitTo(t, "http://[::1]:9090")
	finished := b.submitTo(t, "http://127.0.0.1:40000")
	_, err := store.Fail(b.ctx, b.pool, finished.ID, "timeout", "too slow")
	require.NoError(t, err)
	queued := b.insert(t, "")
	_, err = store.MarkSubmitting(b.ctx, b.pool, queued.ID)
	require.NoError(t, err)

	hosts, err := store.SubmittedQueueHosts(b.ctx, b.pool)
	require.NoError(t, err)
	require.Equal(t, []string{"127.0.0.1:38703", "[::1]:9090", "queue.fal.run"}, hosts,
		"each host once, as net/url parses it, of submitted generations only")
}

// The generations of a simulator nobody holds are failed, those of one a
// session holds are not, and nothing else is touched.
func TestFailStoppedSimulator(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const stopped, live = "127.0.0.1:38703", "127.0.0.1:38597"
	orphans := []uuid.UUID{b.submitTo(t, "http://"+stopped).ID, b.submitTo(t, "http://"+stopped).ID}
	lookalike := b.submitTo(t, "http://127.0.0.1:387031") // a prefix is not the host
	ofLive := b.submitTo(t, "http://"+live)
	done := b.submitTo(t, "http://"+stopped)
	_, err := store.Fail(b.ctx, b.pool, done.ID, "timeout", "too slow")
	require.NoError(t, err)
	holdSimulator(t, b.pool, live)

	failed, alive, err := store.FailStoppedSimulator(b.ctx, b.pool, stopped, store.ErrorCodeSimulatorRestarted, "lost")
	require.NoError(t, err)
	require.False(t, alive)
	require.ElementsMatch(t, orphans, failed)
	for _, id := range orphans {
		status, code, message := b.status(t, id)
		require.Equal(t, store.StatusFailed, status)
		require.Equal(t, store.ErrorCodeSimulatorRestarted, code)
		require.Equal(t, "lost", message)
	}
	status, code, _ := b.status(t, done.ID)
	require.Equal(t, store.StatusFailed, status)
	require.Equal(t, "timeout", code, "a finished generation keeps its outcome")
	status, code, _ = b.status(t, lookalike.ID)
	require.Equal(t, store.StatusSubmitted, status)
	require.Empty(t, code)

	failed, alive, err = store.FailStoppedSimulator(b.ctx, b.pool, live, store.ErrorCodeSimulatorRestarted, "lost")
	require.NoError(t, err)
	require.True(t, alive)
	require.Empty(t, failed)
	status, code, _ = b.status(t, ofLive.ID)
	require.Equal(t, store.StatusSubmitted, status)
	require.Empty(t, code)
}

// Released, a simulator's lock no longer protects its generations.
func TestReleaseSimulator(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const host = "127.0.0.1:38597"
	g := b.submitTo(t, "http://"+host)
	conn := holdSimulator(t, b.pool, host)
	// Held twice by one session, as after HoldSimulator on a session that
	// already held it: each hold is released once.
	require.NoError(t, store.HoldSimulator(b.ctx, conn, host))

	require.NoError(t, store.ReleaseSimulator(b.ctx, conn, host))
	_, alive, err := store.FailStoppedSimulator(b.ctx, b.pool, host, store.ErrorCodeSimulatorRestarted, "lost")
	require.NoError(t, err)
	require.True(t, alive)

	require.NoError(t, store.ReleaseSimulator(b.ctx, conn, host))
	failed, alive, err := store.FailStoppedSimulator(b.ctx, b.pool, host, store.ErrorCodeSimulatorRestarted, "lost")
	require.NoError(t, err)
	require.False(t, alive)
	require.Equal(t, []uuid.UUID{g.ID}, failed)
}
