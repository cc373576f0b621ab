package webhooks_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/faltest"
	"github.com/easelhq/easel/internal/metricstest"
	"github.com/easelhq/easel/metrics"
	"github.com/easelhq/easel/webhooks"
)

// setupMetered is setupWithKeys with the receiver's metrics, whose scrape
// it returns.
func setupMetered(t *testing.T, keys func(pub ed25519.PublicKey) fal.KeySource) (*testBundle, func() map[string]float64) {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	b := &testBundle{ctx: context.Background(), pool: dbtest.Pool(t), key: key}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := metrics.New(b.pool, metrics.Config{Logger: logger})
	e := echo.New()
	e.HTTPErrorHandler = apierror.Handler(logger)
	webhooks.NewReceiver(b.pool, fal.NewVerifier(fal.VerifierConfig{Keys: keys(pub)}), logger).WithMetrics(m).Register(e)
	b.server = httptest.NewServer(e)
	t.Cleanup(b.server.Close)
	return b, func() map[string]float64 { return metricstest.Scrape(t, m.Handler()) }
}

func validKeys(pub ed25519.PublicKey) fal.KeySource { return faltest.StaticKeys{pub} }

// What a webhook finishes is counted under the generation's status and
// error code, and as a result applied by webhook; a duplicate changes
// nothing and counts as nothing but a duplicate.
func TestWebhookCountsWhatItFinishes(t *testing.T) {
	t.Parallel()
	b, scrape := setupMetered(t, validKeys)
	failed, completed := b.enqueue(t), b.enqueue(t)

	body := `{"error": "Invalid status code: 422", "gateway_request_id": "req-1", "payload": {"detail": [{"loc": ["body", "image_prompt_1"], ` +
		`"msg": "Image contains inappropriate content", "type": "content_policy_violation"}]}, "request_id": "req-1", "status": "ERROR"}`
	require.Equal(t, delivery{status: 200, outcome: "applied"}, b.deliver(t, "/webhooks/fal/"+failed.ID.String(), []byte(body), b.signed(body)))
	ok := strings.ReplaceAll(okBody, "req-1", "req-2")
	okHeaders := func() http.Header { return fal.SignWebhook(b.key, "req-2", "user-1", time.Now(), []byte(ok)) }
	require.Equal(t, delivery{status: 200, outcome: "applied"}, b.deliver(t, "/webhooks/fal/"+completed.ID.String(), []byte(ok), okHeaders()))
	require.Equal(t, delivery{status: 200, outcome: "duplicate"}, b.deliver(t, "/webhooks/fal/"+completed.ID.String(), []byte(ok), okHeaders()))

	s := scrape()
	for series, want := range map[string]float64{
		`easel_generations_finished_total{error_code="content_policy_violation",status="failed"}`: 1,
		`easel_generations_finished_total{error_code="",status="completed"}`:                      1,
		`easel_generations_finished_total{error_code="other",status="failed"}`:                    0,
		`easel_results_applied_total{source="webhook"}`:                                           2,
		`easel_results_applied_total{source="reconciler"}`:                                        0,
		`easel_webhooks_received_total{outcome="applied"}`:                                        2,
		`easel_webhooks_received_total{outcome="duplicate"}`:                                      1,
		`easel_generation_time_to_complete_seconds_count`:                                         1,
	} {
		require.Contains(t, s, series)
		require.Equal(t, want, s[series], series)
	}
}

// A delivery answered with an error, for fal to deliver again, counts
// under an outcome of its own, and only there: "fal's webhooks are failing"
// is alertable.
func TestWebhookErrorsAreCounted(t *testing.T) {
	t.Parallel()

	refuseEvents := func(t *testing.T, b *testBundle) {
		t.Helper()
		_, err := b.pool.Exec(b.ctx, `
			CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$;
			CREATE TRIGGER refuse BEFORE INSERT ON webhook_events FOR EACH ROW EXECUTE FUNCTION refuse()`)
		require.NoError(t, err)
	}
	for _, tt := range []struct {
		name    string
		keys    func(ed25519.PublicKey) fal.KeySource
		prepare func(*testing.T, *testBundle)
		body    []byte
		sign    func(b *testBundle, body []byte) http.Header
		want    delivery
		outcome string
	}{
		{
			name: "signing keys unavailable", keys: func(ed25519.PublicKey) fal.KeySource { return failingKeys{} },
			body: []byte(okBody), sign: func(b *testBundle, body []byte) http.Header { return b.signed(string(body)) },
			want: delivery{status: 503, code: "keys_unavailable"}, outcome: metrics.WebhookKeysUnavailable,
		},
		{
			name: "signed, not recorded", keys: validKeys, prepare: refuseEvents,
			body: []byte(okBody), sign: func(b *testBundle, body []byte) http.Header { return b.signed(string(body)) },
			want: delivery{status: 500, code: "internal"}, outcome: metrics.WebhookNotRecorded,
		},
		{
			name: "bad signature, not recorded", keys: validKeys, prepare: refuseEvents,
			body: []byte(okBody), sign: func(b *testBundle, _ []byte) http.Header { return b.signed("another body") },
			want: delivery{status: 500, code: "internal"}, outcome: metrics.WebhookNotRecorded,
		},
		{
			name: "too large", keys: validKeys,
			body: bytes.Repeat([]byte("x"), webhooks.MaxBodyBytes+1), sign: func(b *testBundle, body []byte) http.Header { return b.signed(string(body)) },
			want: delivery{status: 413, code: "too_large"}, outcome: metrics.WebhookTooLarge,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, scrape := setupMetered(t, tt.keys)
			gen := b.enqueue(t)
			if tt.prepare != nil {
				tt.prepare(t, b)
			}
			require.Equal(t, tt.want, b.deliver(t, "/webhooks/fal/"+gen.ID.String(), tt.body, tt.sign(b, tt.body)))

			s := scrape()
			require.Equal(t, 1.0, s[`easel_webhooks_received_total{outcome="`+tt.outcome+`"}`])
			var total float64
			for series, v := range s {
				if strings.HasPrefix(series, "easel_webhooks_received_total{") {
					total += v
				}
			}
			require.Equal(t, 1.0, total, "one delivery, counted once")
			require.Zero(t, s[`easel_results_applied_total{source="webhook"}`])
		})
	}
}
