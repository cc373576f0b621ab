package jobs

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
)

// A burst of wake-ups sends two notifications, the first at once and one
// for the rest, and an idle fetchWakeup leaves fetchWakeups: a process that
// opens many pools (tests) keeps none of them through it.
func TestFetchWakeupBurst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	listener, err := pgx.Connect(ctx, pool.Config().ConnString())
	require.NoError(t, err)
	t.Cleanup(func() { listener.Close(context.Background()) })
	_, err = listener.Exec(ctx, `LISTEN "public.`+riverInsertTopic+`"`)
	require.NoError(t, err)

	for range 20 {
		wakeWorkers(pool)
	}
	require.Eventually(t, func() bool {
		_, busy := fetchWakeups.Load(pool)
		return !busy
	}, 10*time.Second, time.Millisecond, "idle, it leaves the map")
	require.EqualValues(t, 0, pool.Stat().AcquiredConns(), "and holds no connection")

	var payloads []string
	for {
		// Both were sent before it went idle: a short wait finds them.
		waitCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		n, err := listener.WaitForNotification(waitCtx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		require.NoError(t, err)
		payloads = append(payloads, n.Payload)
	}
	require.Equal(t, []string{submitWakePayload, submitWakePayload}, payloads)
}
