package serve

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/notify"
	"github.com/easelhq/easel/store"
)

// submitTo inserts a generation submitted to the fal queue at queueHost, as
// the submit worker records it.
func submitTo(t *testing.T, pool *pgxpool.Pool, queueHost string) uuid.UUID {
	t.Helper()
	request := "http://" + queueHost + "/fal-ai/fooocus/requests/" + uuid.NewString()
	return recordSubmission(t, pool, request+"/status", request)
}

// Which simulators' generations the sweep fails, with the address probe
// stubbed: the real probe and a whole easel serve are in
// simulator_restart_test.go.
func TestSweepStoppedSimulators(t *testing.T) {
	t.Parallel()
	const own = "127.0.0.1:40001"
	cases := []struct {
		name      string
		host      string
		listening bool // something accepts connections at host
		locked    bool // a live easel serve holds host's lock
		failed    bool
	}{
		{name: "own address, which a new simulator answers", host: own, listening: true, failed: true},
		{name: "stopped", host: "127.0.0.1:40002", failed: true},
		{name: "stopped, by name", host: "localhost:40003", failed: true},
		{name: "stopped, IPv6", host: "[::1]:40004", failed: true},
		{name: "listening", host: "127.0.0.1:40005", listening: true},
		{name: "live in another network namespace", host: "127.0.0.1:40006", locked: true},
		{name: "own address, live in another network namespace", host: own, listening: true, locked: true},
		{name: "fal", host: "queue.fal.run"},
		{name: "not loopback", host: "10.0.0.7:9090"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool := dbtest.Pool(t)
			ctx := context.Background()
			id := submitTo(t, pool, tc.host)
			queued, err := store.InsertGeneration(ctx, pool, store.InsertGenerationParams{
				ID: uuid.Must(uuid.NewV7()), Client: "tests", EndpointID: "fal-ai/fooocus/image-prompt", Input: json.RawMessage(`{}`), Priority: 2,
			})
			require.NoError(t, err)
			_, err = store.MarkSubmitting(ctx, pool, queued.ID) // its answer never recorded
			require.NoError(t, err)
			if tc.locked {
				conn, err := pool.Acquire(ctx)
				require.NoError(t, err)
				t.Cleanup(conn.Release)
				require.NoError(t, store.HoldSimulator(ctx, conn, tc.host))
			}
			var probed []string
			listening := func(_ context.Context, host string) bool {
				probed = append(probed, host)
				return tc.listening
			}
			logs := &logtest.Buffer{}
			logger := slog.New(slog.NewJSONHandler(logs, nil))

			err = sweepStoppedSimulators(ctx, pool, own, listening, notify.NewPublisher(pool, store.GenerationFinishedChannel, logger), nil, logger)
			require.NoError(t, err)

			g, err := store.GetGeneration(ctx, pool, id)
			require.NoError(t, err)
			if tc.failed {
				require.Equal(t, store.StatusFailed, g.Status)
				require.Equal(t, store.ErrorCodeSimulatorRestarted, *g.ErrorCode)
				require.Equal(t, simulatorRestartedMessage(tc.host), *g.ErrorMessage)
				require.Contains(t, logs.String(), `"generations":1,`)
			} else {
				require.Equal(t, store.StatusSubmitted, g.Status)
				require.Nil(t, g.ErrorCode)
				require.NotContains(t, logs.String(), `"generations":`)
			}
			if tc.host == own || !isLoopbackHost(tc.host) {
				require.Empty(t, probed, "neither its own simulator nor fal is probed")
			}
			// A submission whose answer was never recorded names no
			// simulator: its job submits it again, to the new one.
			q, err := store.GetGeneration(ctx, pool, queued.ID)
			require.NoError(t, err)
			require.Equal(t, store.StatusQueued, q.Status)
		})
	}
}

func TestSimulatorRestartedMessage(t *testing.T) {
	t.Parallel()
	message := simulatorRestartedMessage("127.0.0.1:38703")
	for _, says := range []string{"127.0.0.1:38703", "in-process simulator", "in memory only", "nothing was billed", "not fal"} {
		require.Contains(t, message, says)
	}
}

// holders returns the sessions holding the simulator lock of queueHost.
func holders(t *testing.T, pool *pgxpool.Pool, queueHost string) []int {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT pid FROM pg_locks
		WHERE locktype = 'advisory' AND objsubid = 2 AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND classid::bigint = x'45534c53'::bigint AND objid::bigint = hashtext($1)::bigint & x'ffffffff'::bigint`, queueHost)
	require.NoError(t, err)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	require.NoError(t, err)
	return pids
}

// The lease holds the simulator's lock while the simulator runs, takes it
// again on a new session when Postgres ends its session, and, released,
// gives it up and fails what the simulator leaves.
func TestSimulatorLease(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	const queueHost = "127.0.0.1:40007"
	logs := &logtest.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	publisher := notify.NewPublisher(pool, store.GenerationFinishedChannel, logger)

	session, err := openLease(ctx, pool, logger, neverStops(t))
	require.NoError(t, err)
	lease, err := holdSimulator(ctx, session, "http://"+queueHost, publisher, nil, logger)
	require.NoError(t, err)
	id := submitTo(t, pool, queueHost)
	endLeaseSession(t, pool, logs, func() []int { return holders(t, pool, queueHost) })
	require.Contains(t, logs.String(), "lost the database session holding the in-process fal simulator's lock")
	_, alive, err := store.FailStoppedSimulator(ctx, pool, queueHost, store.ErrorCodeSimulatorRestarted, "lost")
	require.NoError(t, err)
	require.True(t, alive)

	lease.release()
	require.Empty(t, holders(t, pool, queueHost))
	require.NotContains(t, logs.String(), "could not release")
	g, err := store.GetGeneration(ctx, pool, id)
	require.NoError(t, err)
	require.Equal(t, store.StatusFailed, g.Status)
	require.Equal(t, store.ErrorCodeSimulatorRestarted, *g.ErrorCode)
	require.Contains(t, logs.String(), "failed the generations still submitted to the in-process fal simulator")
}

func TestHoldSimulatorRefusesAQueueURLWithoutHost(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	logger := slog.New(slog.DiscardHandler)
	session, err := openLease(context.Background(), pool, logger, neverStops(t))
	require.NoError(t, err)
	t.Cleanup(session.release)
	_, err = holdSimulator(context.Background(), session, "not a url", notify.NewPublisher(pool, store.GenerationFinishedChannel, logger), nil, logger)
	require.ErrorContains(t, err, `queue URL "not a url" has no host`)
}
