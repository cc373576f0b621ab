package fal_test

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/internal/faltest"
)

// benchWebhookBody is a completion webhook of the size fal sends for one
// image.
const benchWebhookBody = `{"error": null, "gateway_request_id": "5b0c1f0e-8f4a-4c43-9d0e-3f1b6a2c7d11", "payload": {"has_nsfw_concepts": [false], "images": [{"content_type": "image/jpeg", "file_name": "a1.jpeg", "file_size": 123456, "height": 1024, "url": "https://v3.fal.media/files/x/a1.jpeg", "width": 1024}], "timings": {"inference": 3.5}}, "request_id": "5b0c1f0e-8f4a-4c43-9d0e-3f1b6a2c7d11", "status": "OK"}`

// BenchmarkVerify is the signature check every webhook pays before it
// touches the database: SHA-256 of the body and one Ed25519 verification.
func BenchmarkVerify(b *testing.B) {
	pub, key, err := ed25519.GenerateKey(nil)
	require.NoError(b, err)
	signedAt := time.Unix(1760000000, 0)
	body := []byte(benchWebhookBody)
	header := fal.SignWebhook(key, "5b0c1f0e-8f4a-4c43-9d0e-3f1b6a2c7d11", "user-1", signedAt, body)
	v := fal.NewVerifierAt(fal.VerifierConfig{Keys: faltest.StaticKeys{pub}}, func() time.Time { return signedAt })
	ctx := context.Background()

	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := v.Verify(ctx, header, body); err != nil {
			b.Fatal(err)
		}
	}
}
