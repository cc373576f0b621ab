package falsim_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
)

// Every webhook the simulator sends, faults included, verifies with Easel's
// own verifier fetching the simulator's JWKS; a tampered one does not.
func TestWebhooksVerifyWithEaselVerifier(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{
		Seed:                 3,
		FailRate:             0.3,
		PayloadErrorRate:     0.2,
		NSFWRate:             0.5,
		WebhookDuplicateRate: 0.5,
	}, setupOpts{})
	verifier := fal.NewVerifier(fal.VerifierConfig{Keys: fal.NewJWKS(fal.JWKSConfig{URL: b.url + "/.well-known/jwks.json"})})

	const n = 20
	for range n {
		b.submitWithWebhook(t, `{"num_images": 2, "image_prompt_1": {"image_url": "https://example.com/a.png"}}`)
	}
	ctx := context.Background()
	for range n { // at least one delivery per request; duplicates come on top
		d := b.nextDelivery(t)
		require.NoError(t, verifier.Verify(ctx, d.header, d.body))

		payload, err := fal.ParseWebhook(d.body)
		require.NoError(t, err, "every simulator webhook parses as fal's")
		require.Equal(t, d.header.Get("X-Fal-Webhook-Request-Id"), payload.RequestID)

		tampered := append([]byte{}, d.body...)
		tampered[len(tampered)/2] ^= 1
		require.ErrorIs(t, verifier.Verify(ctx, d.header, tampered), fal.ErrBadSignature)
	}
}
