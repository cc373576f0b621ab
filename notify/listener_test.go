package notify_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/clocktest"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/notify"
)

const channel = "easel_test_channel"

type testBundle struct {
	ctx      context.Context
	pool     *pgxpool.Pool
	listener *notify.Listener
	stop     context.CancelFunc
}

// setup runs a Listener on a database of the test's own.
func setup(t *testing.T) *testBundle {
	t.Helper()
	pool := dbtest.Pool(t)
	return setupOn(t, pool)
}

// setupOn runs a Listener with pool's configuration, as a second process
// on the same database would.
func setupOn(t *testing.T, pool *pgxpool.Pool) *testBundle {
	t.Helper()
	return setupLogged(t, pool, io.Discard)
}

// setupLogged is setupOn with the Listener's JSON log lines written to logs.
func setupLogged(t *testing.T, pool *pgxpool.Pool, logs io.Writer) *testBundle {
	t.Helper()
	return setupWithLogger(t, pool, slog.New(slog.NewJSONHandler(logs, nil)))
}

// setupWithLogger is setupOn with a Listener that logs to logger,
// configured before it runs.
func setupWithLogger(t *testing.T, pool *pgxpool.Pool, logger *slog.Logger, configure ...func(*notify.Listener)) *testBundle {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	l := notify.NewListener(pool, channel, logger)
	for _, c := range configure {
		c(l)
	}
	go l.Run(ctx)
	t.Cleanup(func() {
		stop()
		<-l.Done()
	})
	b := &testBundle{ctx: context.Background(), pool: pool, listener: l, stop: stop}

	// Wait until the Listener listens: either wake-up of the probe, its
	// notification or the one every subscriber gets on connection, comes
	// after LISTEN.
	probe := l.Subscribe("ready")
	defer probe.Close()
	b.notify(t, "ready")
	awaitWake(t, probe)
	return b
}

func (b *testBundle) subscribe(t *testing.T, key string) *notify.Subscription {
	t.Helper()
	s := b.listener.Subscribe(key)
	t.Cleanup(s.Close)
	return s
}

// notify sends key on the channel from a pool connection, i.e. not the
// Listener's.
func (b *testBundle) notify(t *testing.T, key string) {
	t.Helper()
	_, err := b.pool.Exec(b.ctx, `SELECT pg_notify($1, $2)`, channel, key)
	require.NoError(t, err)
}

func awaitWake(t *testing.T, s *notify.Subscription) {
	t.Helper()
	select {
	case <-s.C:
	case <-time.After(10 * time.Second):
		t.Fatal("subscription not woken")
	}
}

func requireNotWoken(t *testing.T, s *notify.Subscription) {
	t.Helper()
	select {
	case <-s.C:
		t.Fatal("subscription woken")
	default:
	}
}

func TestListenerWakesSubscribersOfPayload(t *testing.T) {
	t.Parallel()
	b := setup(t)

	a1 := b.subscribe(t, "a")
	a2 := b.subscribe(t, "a")
	other := b.subscribe(t, "b")

	b.notify(t, "a")
	awaitWake(t, a1)
	awaitWake(t, a2)

	// Notifications arrive in order on the one connection: once "b" has
	// woken other, "a"'s subscribers have seen everything sent before it.
	b.notify(t, "b")
	awaitWake(t, other)
	requireNotWoken(t, a1)
	requireNotWoken(t, a2)
}

func TestSubscriptionClose(t *testing.T) {
	t.Parallel()
	b := setup(t)

	closed := b.subscribe(t, "a")
	open := b.subscribe(t, "b")
	closed.Close()
	closed.Close()

	b.notify(t, "a")
	b.notify(t, "b")
	awaitWake(t, open)
	requireNotWoken(t, closed)
}

// killListenerConnection ends the Listener's connection from another
// session.
func (b *testBundle) killListenerConnection(t *testing.T) {
	t.Helper()
	var terminated int
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT count(*) FROM (
			SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1
		) t`, "easel-notify-"+channel).Scan(&terminated))
	require.Equal(t, 1, terminated)
}

func TestListenerReconnects(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.subscribe(t, "a")

	b.killListenerConnection(t)

	// Whatever was sent meanwhile is lost, so reconnecting wakes everyone;
	// after that the new connection delivers again.
	awaitWake(t, s)
	b.notify(t, "a")
	awaitWake(t, s)
}

// A nil logger is slog.Default(), as for NewPublisher: the failure and
// recovery the Listener logs do not panic.
func TestListenerWithoutLogger(t *testing.T) {
	t.Parallel()
	b := setupWithLogger(t, dbtest.Pool(t), nil)
	s := b.subscribe(t, "a")

	b.killListenerConnection(t)
	awaitWake(t, s) // reconnected, having logged the failure
	b.notify(t, "a")
	awaitWake(t, s)
}

func TestListenersInSeveralProcesses(t *testing.T) {
	t.Parallel()
	first := setup(t)
	secondPool, err := pgxpool.New(context.Background(), first.pool.Config().ConnString())
	require.NoError(t, err)
	t.Cleanup(secondPool.Close)
	second := setupOn(t, secondPool)

	s1 := first.subscribe(t, "a")
	s2 := second.subscribe(t, "a")

	second.notify(t, "a")
	awaitWake(t, s1)
	awaitWake(t, s2)
}

func TestListenerStopWakesEveryone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.subscribe(t, "a")

	b.stop()
	<-b.listener.Done()
	awaitWake(t, s)

	// Nothing will wake a later subscription, so it starts woken.
	late := b.listener.Subscribe("a")
	defer late.Close()
	awaitWake(t, late)
}

// requireDuration requires line[key] to be a duration written as text
// ("100ms"), not as integer nanoseconds.
func requireDuration(t *testing.T, line map[string]any, key string) time.Duration {
	t.Helper()
	text, ok := line[key].(string)
	require.True(t, ok, "%s is %#v, not text", key, line[key])
	d, err := time.ParseDuration(text)
	require.NoError(t, err)
	return d
}

// TestListenerLogsRecovery: a failure is a warning with its backoff as
// text, and once the Listener listens again one line says so, with how long
// it was down and after how many attempts, so that the last line about it
// tells whether it is up. Within a minute of a warning, failures are DEBUG
// lines, and so is the reconnection no warning announced.
func TestListenerLogsRecovery(t *testing.T) {
	t.Parallel()
	const failed, reconnected = "notification listener failed; reconnecting", "notification listener reconnected"
	logs := &logtest.Buffer{}
	clock := clocktest.New()
	b := setupWithLogger(t, dbtest.Pool(t), slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		func(l *notify.Listener) { notify.SetFailureLogClock(l, clock.Now) })
	require.Empty(t, logs.Lines(t, failed))
	require.Empty(t, logs.Lines(t, reconnected), "the first connection is no recovery")

	// Killed, it comes back at the first attempt.
	b.killListenerConnection(t)
	require.Eventually(t, func() bool { return len(logs.Lines(t, reconnected)) == 1 }, 10*time.Second, 10*time.Millisecond)
	warnings := logs.Lines(t, failed)
	require.Len(t, warnings, 1)
	require.Equal(t, "WARN", warnings[0]["level"])
	require.Equal(t, float64(1), warnings[0]["failures"])
	require.Equal(t, 100*time.Millisecond, requireDuration(t, warnings[0], "retry_in"))
	back := logs.Lines(t, reconnected)[0]
	require.Equal(t, "INFO", back["level"])
	require.Equal(t, channel, back["channel"])
	require.Equal(t, float64(1), back["attempts"])
	requireDuration(t, back, "down_for")

	// Killed while the database refuses connections, a minute later, it
	// fails until they are allowed again, backing off: a warning at the
	// first failure, DEBUG lines after.
	clock.Advance(notify.FailureLogEvery)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dbtest.DefaultURL)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close(ctx) })
	var database string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT current_database()`).Scan(&database))
	allowConnections := func(allow bool) {
		_, err := admin.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s WITH ALLOW_CONNECTIONS %t`, pgx.Identifier{database}.Sanitize(), allow))
		require.NoError(t, err)
	}
	allowConnections(false)
	t.Cleanup(func() { allowConnections(true) })
	b.killListenerConnection(t) // from a pool connection opened before
	require.Eventually(t, func() bool { return len(logs.Lines(t, failed)) >= 4 }, 10*time.Second, 10*time.Millisecond)
	allowConnections(true)
	require.Eventually(t, func() bool { return len(logs.Lines(t, reconnected)) == 2 }, 10*time.Second, 10*time.Millisecond)

	warnings = logs.Lines(t, failed)[1:]
	for i, w := range warnings {
		require.Equal(t, float64(i+1), w["failures"])
		require.Equal(t, min(100*time.Millisecond<<i, 5*time.Second), requireDuration(t, w, "retry_in"))
		wantLevel := "DEBUG"
		if i == 0 {
			wantLevel = "WARN"
		}
		require.Equal(t, wantLevel, w["level"], "failure %d", i+1)
	}
	back = logs.Lines(t, reconnected)[1]
	require.Equal(t, "INFO", back["level"], "a warning said it was down")
	require.Equal(t, float64(len(warnings)), back["attempts"])
	// Down from the first failure to the reconnection: at least the
	// backoffs waited in between.
	var waited time.Duration
	for _, w := range warnings {
		waited += requireDuration(t, w, "retry_in")
	}
	require.GreaterOrEqual(t, requireDuration(t, back, "down_for"), waited-time.Millisecond)
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Contains(t, lines[len(lines)-1], reconnected, "the last line says the listener is up")

	// Killed again within the minute: no warning, and no recovery to
	// announce.
	b.killListenerConnection(t)
	require.Eventually(t, func() bool { return len(logs.Lines(t, reconnected)) == 3 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, "DEBUG", logs.Lines(t, failed)[len(warnings)+1]["level"])
	require.Equal(t, "DEBUG", logs.Lines(t, reconnected)[2]["level"])
}

// The listening connection keeps the name DATABASE_URL gives the pool, so
// that a DBA who named each process's connections finds it with them.
func TestListenerApplicationName(t *testing.T) {
	t.Parallel()
	cfg, err := pgxpool.ParseConfig(dbtest.URL(t))
	require.NoError(t, err)
	cfg.MaxConns = 2
	cfg.ConnConfig.RuntimeParams["application_name"] = "easel-api-1"
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	b := setupOn(t, pool)

	rows, err := b.pool.Query(b.ctx, `
		SELECT application_name FROM pg_stat_activity
		WHERE datname = current_database() AND query ILIKE 'listen%'`)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"easel-api-1 notify " + channel}, names)
}
