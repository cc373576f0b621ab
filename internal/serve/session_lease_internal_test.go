package serve

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/store"
)

// neverStops is the stopServing of a lease that must never stop its
// process.
func neverStops(t *testing.T) func(error) {
	return func(err error) { t.Errorf("the lease stopped the process: %v", err) }
}

// endLeaseSession ends the lease session holding the lock that holders
// lists, as a Postgres restart would, and waits for the lease to take the
// lock again on a new session and to say so in logs, once its rechecks
// passed: released before then, the lease closes the new session without
// unlocking, and Postgres may list the lock a moment longer.
func endLeaseSession(t *testing.T, pool *pgxpool.Pool, logs *logtest.Buffer, holders func() []int) {
	t.Helper()
	first := holders()
	require.Len(t, first, 1)
	var terminated bool
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT pg_terminate_backend($1)`, first[0]).Scan(&terminated))
	require.True(t, terminated)
	require.Eventually(t, func() bool {
		again := holders()
		return len(again) == 1 && again[0] != first[0]
	}, 30*time.Second, 20*time.Millisecond, "the lock is taken again on a new session")
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), `"msg":"took `) },
		30*time.Second, 20*time.Millisecond, "the lease says it took the lock again")
}

// On a database whose idle_session_timeout, as managed Postgres services
// set it, is above the lease's ping interval, the lease's session is never
// idle long enough to be ended; without pings it is, every time, and the
// lock is taken again.
func TestLeasePingOutlastsIdleSessionTimeout(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		pingEvery time.Duration
		ended     bool
	}{
		{name: "pinged more often than the timeout", pingEvery: 200 * time.Millisecond},
		{name: "not pinged within the timeout", pingEvery: time.Hour, ended: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			databaseURL := dbtest.URL(t)
			// The test's own sessions are exempt: only the lease's may end.
			testCfg, err := pgxpool.ParseConfig(databaseURL)
			require.NoError(t, err)
			testCfg.ConnConfig.RuntimeParams["idle_session_timeout"] = "0"
			pool, err := pgxpool.NewWithConfig(ctx, testCfg)
			require.NoError(t, err)
			t.Cleanup(pool.Close)
			var database string
			require.NoError(t, pool.QueryRow(ctx, `SELECT current_database()`).Scan(&database))
			_, err = pool.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{database}.Sanitize()+` SET idle_session_timeout = '1s'`)
			require.NoError(t, err)

			leasePool, err := pgxpool.New(ctx, databaseURL)
			require.NoError(t, err)
			t.Cleanup(leasePool.Close)
			logs := &logtest.Buffer{}
			session, err := openLease(ctx, leasePool, slog.New(slog.NewJSONHandler(logs, nil)), neverStops(t))
			require.NoError(t, err)
			t.Cleanup(session.release)
			session.pingEvery = tt.pingEvery
			require.NoError(t, guardFalMode(ctx, session, store.FalModeSimulator))
			session.hold(ctx)
			first := falModeHolders(t, pool, store.FalModeSimulator)
			require.Len(t, first, 1)

			if !tt.ended {
				require.Never(t, func() bool {
					held := falModeHolders(t, pool, store.FalModeSimulator)
					return len(held) != 1 || held[0] != first[0] || strings.Contains(logs.String(), "lost the database session")
				}, 3*time.Second, 50*time.Millisecond, "the session outlives three idle timeouts")
				return
			}
			require.Eventually(t, func() bool {
				again := falModeHolders(t, pool, store.FalModeSimulator)
				return len(again) == 1 && again[0] != first[0] && strings.Contains(logs.String(), "took the lock saying that an easel serve without FAL_KEY runs again")
			}, 30*time.Second, 20*time.Millisecond, "the lock is taken again on a new session")
			require.Contains(t, logs.String(), "lost the database session holding the lock saying that an easel serve without FAL_KEY runs")
			require.Contains(t, logs.String(), "idle-session timeout")
		})
	}
}
