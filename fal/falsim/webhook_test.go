package falsim_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
)

func TestWebhookDelivery(t *testing.T) {
	t.Parallel()

	b := setup(t, falsim.Config{UserID: "user-123"}, setupOpts{})
	sr := b.submitWithWebhook(t, validInput)
	d := b.nextDelivery(t)

	verifyDelivery(t, b.url+"/.well-known/jwks.json", d)
	require.Equal(t, sr.RequestID, d.header.Get("X-Fal-Webhook-Request-Id"))
	require.Equal(t, "user-123", d.header.Get("X-Fal-Webhook-User-Id"))
	require.Equal(t, "application/json", d.header.Get("Content-Type"))
	timestamp, err := strconv.ParseInt(d.header.Get("X-Fal-Webhook-Timestamp"), 10, 64)
	require.NoError(t, err)
	require.InDelta(t, time.Now().Unix(), timestamp, 300, "within the window receivers accept")

	// fal's bodies come from Python: sorted keys, spaced separators.
	require.Regexp(t, `^\{"error": null, "gateway_request_id": "[0-9a-f-]{36}", "payload": \{"has_nsfw_concepts": \[false\], "images": \[\{"content_type": "image/jpeg", `, string(d.body))
	wb := decodeWebhook(t, d)
	require.Equal(t, sr.RequestID, wb.RequestID)
	require.Equal(t, sr.RequestID, wb.GatewayRequestID)
	require.Equal(t, "OK", wb.Status)
	require.Nil(t, wb.Error)
	require.Nil(t, wb.PayloadError)

	resp, body := b.do(t, http.MethodGet, sr.ResponseURL, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.JSONEq(t, string(body), string(wb.Payload), "the webhook carries the result")
}

func TestWebhookRetries(t *testing.T) {
	t.Parallel()

	t.Run("until acknowledged, freshly signed", func(t *testing.T) {
		t.Parallel()
		var clock atomic.Int64
		b := setup(t, falsim.Config{TimeScale: 1e5}, setupOpts{
			answer: func(attempt int, _ *http.Request) int {
				if attempt <= 3 {
					return http.StatusServiceUnavailable
				}
				return http.StatusOK
			},
			// Every reading of the clock is a second later, so an attempt
			// signed with a fresh timestamp carries a new one.
			now: func() time.Time { return time.Unix(1_760_000_000+clock.Add(1), 0) },
		})
		b.submitWithWebhook(t, validInput)

		var last int64
		var body []byte
		for range 4 {
			d := b.nextDelivery(t)
			verifyDelivery(t, b.url+"/.well-known/jwks.json", d)
			timestamp, err := strconv.ParseInt(d.header.Get("X-Fal-Webhook-Timestamp"), 10, 64)
			require.NoError(t, err)
			require.Greater(t, timestamp, last, "each attempt has a fresh timestamp")
			last = timestamp
			if body != nil {
				require.Equal(t, string(body), string(d.body), "the body does not change")
			}
			body = d.body
		}
		b.awaitLog(t, "webhook delivered")
		b.sim.Close()
		require.Empty(t, b.hooks, "no attempt after the acknowledgement")
		stats := b.sim.Stats()
		require.Equal(t, 4, stats.WebhooksSent)
		require.Equal(t, 3, stats.WebhooksFailed)
		require.Equal(t, 1, stats.WebhooksAcked)
	})

	t.Run("abandoned after the last retry", func(t *testing.T) {
		t.Parallel()
		b := setup(t, falsim.Config{TimeScale: 1e5, WebhookRetries: 2}, setupOpts{
			answer: func(int, *http.Request) int { return http.StatusInternalServerError },
		})
		sr := b.submitWithWebhook(t, validInput)
		record := b.awaitLog(t, "webhook delivery abandoned")
		record.Attrs(func(a slog.Attr) bool {
			if a.Key == "request_id" {
				require.Equal(t, sr.RequestID, a.Value.String())
			}
			return true
		})
		b.sim.Close()
		require.Len(t, b.hooks, 3)
		stats := b.sim.Stats()
		require.Equal(t, 3, stats.WebhooksSent)
		require.Equal(t, 3, stats.WebhooksFailed)
		require.Zero(t, stats.WebhooksAcked)
	})

	t.Run("after a timeout", func(t *testing.T) {
		t.Parallel()
		b := setup(t, falsim.Config{TimeScale: 1e5, WebhookTimeout: 20 * time.Millisecond}, setupOpts{
			answer: func(attempt int, r *http.Request) int {
				if attempt == 1 {
					<-r.Context().Done() // the simulator gives up on it
				}
				return http.StatusOK
			},
		})
		b.submitWithWebhook(t, validInput)
		first, second := b.nextDelivery(t), b.nextDelivery(t)
		require.Equal(t, string(first.body), string(second.body))
		b.awaitLog(t, "webhook delivered")
		b.sim.Close()
		stats := b.sim.Stats()
		require.Equal(t, 2, stats.WebhooksSent)
		require.Equal(t, 1, stats.WebhooksFailed)
		require.Equal(t, 1, stats.WebhooksAcked)
	})
}

func TestWebhookFaults(t *testing.T) {
	t.Parallel()

	t.Run("dropped", func(t *testing.T) {
		t.Parallel()
		b := setup(t, falsim.Config{WebhookDropRate: 1}, setupOpts{})
		sr := b.submitWithWebhook(t, validInput)
		b.awaitCompleted(t, sr.StatusURL)
		require.Len(t, b.result(t, sr.ResponseURL).Images, 1, "the result stays pollable")
		b.sim.Close()
		require.Empty(t, b.hooks)
		stats := b.sim.Stats()
		require.Equal(t, 1, stats.WebhooksDropped)
		require.Zero(t, stats.WebhooksSent)
	})

	t.Run("duplicated", func(t *testing.T) {
		t.Parallel()
		b := setup(t, falsim.Config{WebhookDuplicateRate: 1}, setupOpts{})
		b.submitWithWebhook(t, validInput)
		first, second := b.nextDelivery(t), b.nextDelivery(t)
		require.Equal(t, string(first.body), string(second.body))
		require.Equal(t, first.header.Get("X-Fal-Webhook-Request-Id"), second.header.Get("X-Fal-Webhook-Request-Id"))
		verifyDelivery(t, b.url+"/.well-known/jwks.json", second)
		b.awaitLog(t, "webhook delivered")
		b.awaitLog(t, "webhook delivered")
		b.sim.Close()
		require.Equal(t, 2, b.sim.Stats().WebhooksAcked)
	})

	t.Run("payload error", func(t *testing.T) {
		t.Parallel()
		b := setup(t, falsim.Config{PayloadErrorRate: 1}, setupOpts{})
		sr := b.submitWithWebhook(t, validInput)
		d := b.nextDelivery(t)
		require.Contains(t, string(d.body), `"payload": null`)
		wb := decodeWebhook(t, d)
		require.Equal(t, "OK", wb.Status)
		require.NotNil(t, wb.PayloadError)
		require.NotEmpty(t, *wb.PayloadError)
		require.Len(t, b.result(t, sr.ResponseURL).Images, 1, "the result stays pollable")
	})

	t.Run("delayed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, falsim.Config{WebhookDelay: 10 * time.Millisecond}, setupOpts{})
		sr := b.submitWithWebhook(t, validInput)
		require.Equal(t, sr.RequestID, decodeWebhook(t, b.nextDelivery(t)).RequestID)
	})
}

func TestJWKS(t *testing.T) {
	t.Parallel()

	b := setup(t, falsim.Config{Seed: 7}, setupOpts{})
	resp, body := doRequest(t, http.MethodGet, b.url+"/.well-known/jwks.json", "", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var jwks struct {
		Keys []map[string]string `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(body, &jwks))
	require.Len(t, jwks.Keys, 1)
	require.NotContains(t, jwks.Keys[0], "d", "never publish the private key")

	again, err := falsim.New(falsim.Config{Seed: 7})
	require.NoError(t, err)
	t.Cleanup(again.Close)
	require.Equal(t, b.sim.PublicKey(), again.PublicKey(), "the key is derived from the seed")
	other, err := falsim.New(falsim.Config{Seed: 8})
	require.NoError(t, err)
	t.Cleanup(other.Close)
	require.NotEqual(t, b.sim.PublicKey(), other.PublicKey())
}
