package webhooks_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/faltest"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/webhooks"
)

// benchWebhookBody completes a generation with one image.
const benchWebhookBody = `{"error": null, "gateway_request_id": "req-1", "payload": {"has_nsfw_concepts": [false], "images": [` +
	`{"content_type": "image/png", "file_name": "a.png", "file_size": 10, "height": 64, "url": "https://cdn.example/a.png", "width": 32}], ` +
	`"seed": 17454220438242315174, "timings": {"inference": 2.5}}, "request_id": "req-1", "status": "OK"}`

// BenchmarkReceiverApply is one OK webhook through the receiver, without
// the network: verify the signature, then lock the generation, match the
// request to it, complete it with its image and store the event in one
// transaction.
func BenchmarkReceiverApply(b *testing.B) {
	pool := dbtest.Pool(b)
	ctx := context.Background()
	pub, key, err := ed25519.GenerateKey(nil)
	require.NoError(b, err)
	logger := slog.New(slog.DiscardHandler)
	e := echo.New()
	e.HTTPErrorHandler = apierror.Handler(logger)
	webhooks.NewReceiver(pool, fal.NewVerifier(fal.VerifierConfig{Keys: faltest.StaticKeys{pub}}), logger).Register(e)

	// Every delivery needs a generation of its own to complete.
	ids := make([]uuid.UUID, 0, b.N)
	const batch = 500
	for len(ids) < b.N {
		require.NoError(b, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			for range min(batch, b.N-len(ids)) {
				enqueued, err := jobs.Enqueue(ctx, tx, "bench", `{"image_prompt_1": {"image_url": "https://example.com/a.png"}}`, nil)
				if err != nil {
					return err
				}
				ids = append(ids, enqueued.Generation.ID)
			}
			return nil
		}))
	}
	// Each with its submission under way and a request of its own, as fal
	// reports on it.
	_, err = pool.Exec(ctx, `UPDATE generations SET fal_submissions = 1`)
	require.NoError(b, err)
	bodies, headers := make([][]byte, len(ids)), make([]http.Header, len(ids))
	for i := range ids {
		requestID := fmt.Sprintf("req-%d", i)
		bodies[i] = []byte(strings.ReplaceAll(benchWebhookBody, `"req-1"`, `"`+requestID+`"`))
		headers[i] = fal.SignWebhook(key, requestID, "user-1", time.Now(), bodies[i])
		headers[i].Set("Content-Type", "application/json")
	}

	b.ReportAllocs()
	b.ResetTimer()
	cpu := dbtest.StartCPUMeter(ctx, b, pool)
	for i, id := range ids {
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/webhooks/fal/"+id.String(), bytes.NewReader(bodies[i]))
		req.Header = headers[i]
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("webhook for %s: %d %s", id, rec.Code, rec.Body)
		}
	}
	cpu.Report(b)
}
