package webhooks_test

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/store"
)

// Forged deliveries and replays of a genuine one cannot grow webhook_events
// without bound: each generation keeps at most store.MaxWebhookEvents, and
// the generation is unchanged.
func TestWebhookFloodIsBounded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	gen := b.enqueue(t)
	path := "/webhooks/fal/" + gen.ID.String()

	require.Equal(t, delivery{status: 200, outcome: "applied"}, b.deliver(t, path, []byte(okBody), b.signed(okBody)))

	_, forger, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	for range store.MaxWebhookEvents {
		forged := fal.SignWebhook(forger, "req-1", "user-1", time.Now(), []byte(okBody))
		require.Equal(t, 401, b.deliver(t, path, []byte(okBody), forged).status)
		require.Equal(t, delivery{status: 200, outcome: "duplicate"}, b.deliver(t, path, []byte(okBody), b.signed(okBody)), "a replay")
	}

	got, images, outcomes := b.generation(t, gen)
	require.Equal(t, store.StatusCompleted, got.Status)
	require.Len(t, images, 2)
	require.Len(t, outcomes, store.MaxWebhookEvents, "no more than the cap")
	require.Equal(t, "applied", outcomes[0])
}
