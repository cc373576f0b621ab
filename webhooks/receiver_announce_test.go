package webhooks_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// A webhook announces the generation it finishes, once it has committed,
// and nothing for a delivery that finishes nothing: a duplicate, or a
// result that could not be recorded.
func TestWebhookAnnouncesOnlyWhatItFinished(t *testing.T) {
	t.Parallel()
	b := setup(t)
	conn, err := pgx.Connect(b.ctx, b.pool.Config().ConnString())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	_, err = conn.Exec(b.ctx, "LISTEN "+store.GenerationFinishedChannel)
	require.NoError(t, err)
	next := func(t *testing.T) []string {
		t.Helper()
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		defer cancel()
		n, err := conn.WaitForNotification(ctx)
		require.NoError(t, err)
		return strings.Split(n.Payload, ",")
	}

	gen := b.enqueue(t)
	path := "/webhooks/fal/" + gen.ID.String()
	require.Equal(t, delivery{status: 200, outcome: "applied"}, b.deliver(t, path, []byte(okBody), b.signed(okBody)))
	require.Equal(t, []string{gen.ID.String()}, next(t))

	require.Equal(t, delivery{status: 200, outcome: "duplicate"}, b.deliver(t, path, []byte(okBody), b.signed(okBody)))
	// Whatever the duplicate published has been sent once Flush returns;
	// notifications arrive in order, so the marker comes next only if it
	// published nothing.
	require.NoError(t, b.publisher.Flush(b.ctx))
	_, err = b.pool.Exec(b.ctx, `SELECT pg_notify($1, 'marker')`, store.GenerationFinishedChannel)
	require.NoError(t, err)
	require.Equal(t, []string{"marker"}, next(t))
}
