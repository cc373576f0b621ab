package notify_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/notify"
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
	ctx, stop := context.WithCancel(context.Background())
	l := notify.NewListener(pool, channel, slog.New(slog.DiscardHandler))
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

func TestListenerReconnects(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.subscribe(t, "a")

	// Kill the Listener's connection from another session.
	var terminated int
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT count(*) FROM (
			SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1
		) t`, "easel-notify-"+channel).Scan(&terminated))
	require.Equal(t, 1, terminated)

	// Whatever was sent meanwhile is lost, so reconnecting wakes everyone;
	// after that the new connection delivers again.
	awaitWake(t, s)
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
