package notify_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/notify"
)

// publisher returns a Publisher on b's database that batches everything
// published within window.
func (b *testBundle) publisher(t *testing.T, window time.Duration) *notify.Publisher {
	t.Helper()
	p := notify.NewPublisher(b.pool, channel, slog.New(slog.DiscardHandler))
	notify.SetWindow(p, window)
	return p
}

// listenRaw returns a connection of its own listening on the channel, to
// see the notifications themselves rather than the wake-ups.
func (b *testBundle) listenRaw(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.ConnectConfig(b.ctx, b.pool.Config().ConnConfig.Copy())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	_, err = conn.Exec(b.ctx, "LISTEN "+channel)
	require.NoError(t, err)
	return conn
}

func nextPayload(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := conn.WaitForNotification(ctx)
	require.NoError(t, err, "no notification")
	return n.Payload
}

// requireNoMoreNotifications checks that nothing but a marker sent now
// arrives: notifications come in the order they were sent.
func (b *testBundle) requireNoMoreNotifications(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	b.notify(t, "marker")
	require.Equal(t, "marker", nextPayload(t, conn))
}

func TestPublisherCoalescesKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)
	conn := b.listenRaw(t)
	p := b.publisher(t, 500*time.Millisecond)

	p.Publish("a")
	p.Publish("b")
	p.Publish("a")
	p.Publish("c")
	require.NoError(t, p.Flush(b.ctx))

	keys := strings.Split(nextPayload(t, conn), ",")
	slices.Sort(keys)
	require.Equal(t, []string{"a", "b", "c"}, keys, "one notification, each key once")
	b.requireNoMoreNotifications(t, conn)

	// A later key starts a batch of its own.
	p.Publish("d")
	require.Equal(t, "d", nextPayload(t, conn))
}

func TestPublisherSplitsLongBatches(t *testing.T) {
	t.Parallel()
	b := setup(t)
	conn := b.listenRaw(t)
	p := b.publisher(t, time.Second)

	const n = 500 // 500 ids and commas: 18,499 bytes
	want := make([]string, n)
	for i := range want {
		want[i] = uuid.NewString()
		p.Publish(want[i])
	}
	require.NoError(t, p.Flush(b.ctx))

	var got []string
	for range 3 {
		payload := nextPayload(t, conn)
		require.LessOrEqual(t, len(payload), notify.MaxPayload)
		got = append(got, strings.Split(payload, ",")...)
	}
	b.requireNoMoreNotifications(t, conn)
	require.ElementsMatch(t, want, got)
}

func TestPublisherWakesListenerSubscribersOfEachKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a, c := b.subscribe(t, "a"), b.subscribe(t, "c")
	other := b.subscribe(t, "b")
	p := b.publisher(t, 500*time.Millisecond)

	p.Publish("a")
	p.Publish("c")
	awaitWake(t, a)
	awaitWake(t, c)

	// Notifications arrive in order: once "b" has woken other, the batch
	// has been seen whole.
	b.notify(t, "b")
	awaitWake(t, other)
	requireNotWoken(t, a)
	requireNotWoken(t, c)
}

func TestListenerWakesEachKeyOfPayload(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a, c := b.subscribe(t, "a"), b.subscribe(t, "c")
	whole := b.subscribe(t, "a,c")

	b.notify(t, "a,c")
	awaitWake(t, a)
	awaitWake(t, c)
	requireNotWoken(t, whole)
}

// A notification is a wake-up: one that cannot be sent is logged and
// dropped, and Publish never waits for the database.
func TestPublisherDropsWhatItCannotSend(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var logs logtest.Buffer
	p := notify.NewPublisher(b.pool, channel, slog.New(slog.NewTextHandler(&logs, nil)))
	b.pool.Close()

	p.Publish("a")
	require.NoError(t, p.Flush(b.ctx))
	require.Contains(t, logs.String(), "notifications not sent")
	require.Contains(t, logs.String(), "closed pool")
}

func TestPublisherRefusesKeysListenerCannotSplit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	conn := b.listenRaw(t)
	var logs logtest.Buffer
	p := notify.NewPublisher(b.pool, channel, slog.New(slog.NewTextHandler(&logs, nil)))

	p.Publish("a,b")
	p.Publish("")
	require.NoError(t, p.Flush(b.ctx))
	b.requireNoMoreNotifications(t, conn)
	require.Equal(t, 2, strings.Count(logs.String(), "notification key not published"))
}
