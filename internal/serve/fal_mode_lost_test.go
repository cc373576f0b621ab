package serve_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/internal/serve"
	"github.com/easelhq/easel/store"
)

// falModeHolder returns the session holding mode's lock, or 0 if there is
// none.
func falModeHolder(t *testing.T, b *testBundle, mode store.FalMode) int {
	t.Helper()
	pids := serve.FalModeHolders(t, b.pool, mode)
	require.LessOrEqual(t, len(pids), 1, "one process holds mode %d's lock", mode)
	if len(pids) == 0 {
		return 0
	}
	return pids[0]
}

// awaitExit returns what Run returned once it has returned by itself.
func awaitExit(t *testing.T, b *testBundle) error {
	t.Helper()
	exited := make(chan error, 1)
	go func() { exited <- b.exited() }()
	select {
	case err := <-exited:
		return err
	case <-time.After(30 * time.Second):
		require.FailNow(t, "easel serve still runs")
		return nil
	}
}

// A process whose mode lock's session is lost takes the lock again and
// checks again that no process of the other kind runs, as it did at start:
// one that started while the lock was not held stops it, gracefully, with
// one ERROR line and Run's error (a non-zero exit) saying why. Otherwise
// it keeps serving.
func TestLostFalModeLockCheckedAgain(t *testing.T) {
	t.Parallel()
	const (
		withoutKey = "the lock saying that an easel serve without FAL_KEY runs"
		withKey    = "the lock saying that an easel serve with FAL_KEY runs"
	)
	for _, tt := range []struct {
		name      string
		configure func(*serve.Config)
		mode      store.FalMode
		// started is the kind of process that started while the lock was
		// not held, if any.
		started store.FalMode
		lock    string
		stopped string // Run's error; empty, the process keeps serving
	}{
		{name: "simulator, fal started meanwhile", configure: withInProcessSimulator, mode: store.FalModeSimulator, started: store.FalModeFal,
			lock: withoutKey, stopped: "took " + withoutKey + " again, its database session having been lost, and found that " + errFalRunning},
		{name: "fal, simulator started meanwhile", configure: onFal, mode: store.FalModeFal, started: store.FalModeSimulator,
			lock: withKey, stopped: "took " + withKey + " again, its database session having been lost, and found that " + errSimulatorRunning},
		{name: "simulator, nothing started meanwhile", configure: withInProcessSimulator, mode: store.FalModeSimulator, lock: withoutKey},
		{name: "fal, nothing started meanwhile", configure: onFal, mode: store.FalModeFal, lock: withKey},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			databaseURL := dbtest.URL(t)
			cfg := testConfig(t, databaseURL)
			tt.configure(&cfg)
			cfg.Simulator = fastSimulator()
			logs := &logtest.Buffer{}
			b := start(t, cfg, logs)
			lease := falModeHolder(t, b, tt.mode)
			require.NotZero(t, lease, "the process holds its mode's lock")

			if tt.started != 0 {
				// Taken before the lease's session ends, so the lease
				// always finds it.
				other, err := pgx.Connect(ctx, databaseURL)
				require.NoError(t, err)
				t.Cleanup(func() { _ = other.Close(context.Background()) })
				require.NoError(t, store.HoldFalMode(ctx, other, tt.started))
			}
			var terminated bool
			require.NoError(t, b.pool.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, lease).Scan(&terminated))
			require.True(t, terminated)

			if tt.stopped != "" {
				require.EqualError(t, awaitExit(t, b), tt.stopped)
				require.NotContains(t, tt.stopped, testFalKey)
				var errorLines []string
				for _, line := range logs.Lines(t, "stopping easel serve, as on SIGTERM: "+tt.stopped) {
					errorLines = append(errorLines, line["level"].(string))
				}
				require.Equal(t, []string{"ERROR"}, errorLines)
				require.Len(t, logs.Lines(t, "shutting down: finishing the HTTP requests under way"), 1, "a graceful shutdown")
				require.NotContains(t, logs.String(), "took "+tt.lock+" again\"")
				require.Zero(t, falModeHolder(t, b, tt.mode), "the stopped process released its lock")
				_, err := http.Get(b.baseURL + "/healthz")
				require.ErrorContains(t, err, "connection refused")
				return
			}
			require.Eventually(t, func() bool { return len(logs.Lines(t, "took "+tt.lock+" again")) == 1 },
				30*time.Second, 20*time.Millisecond, "the lock is taken again")
			again := falModeHolder(t, b, tt.mode)
			require.NotZero(t, again)
			require.NotEqual(t, lease, again, "on a new session")
			require.NotContains(t, logs.String(), `"level":"ERROR"`)
			status, body := b.do(t, http.MethodGet, "/healthz", nil, nil)
			require.Equal(t, http.StatusOK, status, string(body))
			if tt.mode == store.FalModeSimulator {
				g := b.awaitTerminal(t, b.enqueue(t, exampleInput).ID)
				require.Equal(t, "completed", g.Status, "the workers still run")
			}
			require.NoError(t, b.shutdown())
			require.Contains(t, logs.String(), "lost the database session holding "+tt.lock)
		})
	}
}
