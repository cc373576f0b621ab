package webhooks_test

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/internal/clocktest"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/faltest"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/internal/metricstest"
	"github.com/easelhq/easel/metrics"
	"github.com/easelhq/easel/store"
	"github.com/easelhq/easel/webhooks"
)

// rejectionBundle is a receiver with its log captured down to DEBUG, its
// metrics, and the clock of its rejections' log moved by hand.
type rejectionBundle struct {
	*testBundle
	logs   *logtest.Buffer
	clock  *clocktest.Clock
	scrape func() map[string]float64
}

func setupRejectionLog(t *testing.T) *rejectionBundle {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	b := &testBundle{ctx: context.Background(), pool: dbtest.Pool(t), key: key}
	logs := &logtest.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := metrics.New(b.pool, metrics.Config{Logger: logger})
	clock := clocktest.New()
	e := echo.New()
	e.HTTPErrorHandler = apierror.Handler(logger)
	r := webhooks.NewReceiver(b.pool, fal.NewVerifier(fal.VerifierConfig{Keys: faltest.StaticKeys{pub}}), logger).WithMetrics(m)
	webhooks.SetRejectionLogClock(r, clock.Now)
	r.Register(e)
	b.server = httptest.NewServer(e)
	t.Cleanup(b.server.Close)
	return &rejectionBundle{testBundle: b, logs: logs, clock: clock,
		scrape: func() map[string]float64 { return metricstest.Scrape(t, m.Handler()) }}
}

// rejectionLine is a line about a rejected delivery.
type rejectionLine struct {
	Level        string    `json:"level"`
	GenerationID string    `json:"generation_id"`
	Reason       string    `json:"reason"`
	Rejected     int       `json:"rejected"`
	Since        time.Time `json:"since"`
}

// lines returns the lines logged with msg, by level.
func (b *rejectionBundle) lines(t *testing.T, msg string) map[string][]rejectionLine {
	t.Helper()
	byLevel := map[string][]rejectionLine{}
	for _, l := range logtest.Decode[struct {
		Msg string `json:"msg"`
		rejectionLine
	}](t, b.logs) {
		if l.Msg == msg {
			byLevel[l.Level] = append(byLevel[l.Level], l.rejectionLine)
		}
	}
	return byLevel
}

// Anyone can post to a generation's URL, and fal's signature of a delivery
// can be replayed to any URL within its tolerance: a flood of deliveries
// rejected for one reason is one WARN at once, then one a minute with how
// many were rejected since the earliest not yet at WARN; each delivery has
// its DEBUG line and is counted, and the webhook_events rows are as ever.
func TestRejectedWebhooksLoggedOncePerMinutePerReason(t *testing.T) {
	t.Parallel()
	_, forger, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	const flood = store.MaxWebhookEvents + 8

	for _, tt := range []struct {
		name    string
		msg     string
		reason  string
		outcome store.WebhookOutcome
		// target returns the generation the deliveries are posted to.
		target func(t *testing.T, b *rejectionBundle) *store.Generation
		// deliver posts one delivery to gen and requires how it is answered.
		deliver func(t *testing.T, b *rejectionBundle, gen *store.Generation)
	}{
		{
			name: "forged", msg: "webhook rejected: bad signature", reason: "no_key_verifies", outcome: store.OutcomeBadSignature,
			target: func(t *testing.T, b *rejectionBundle) *store.Generation { return b.enqueue(t) },
			deliver: func(t *testing.T, b *rejectionBundle, gen *store.Generation) {
				forged := fal.SignWebhook(forger, "req-1", "user-1", time.Now(), []byte(okBody))
				d := b.deliver(t, "/webhooks/fal/"+gen.ID.String(), []byte(okBody), forged)
				require.Equal(t, delivery{status: http.StatusUnauthorized, code: "bad_signature"}, d)
			},
		},
		{
			name: "another account's request", msg: "signed webhook for a fal request that is not the generation's; nothing applied",
			reason: string(store.OutcomeMismatchedRequest), outcome: store.OutcomeMismatchedRequest,
			target: func(t *testing.T, b *rejectionBundle) *store.Generation { return b.enqueueUnsubmitted(t) },
			deliver: func(t *testing.T, b *rejectionBundle, gen *store.Generation) {
				d := b.deliver(t, "/webhooks/fal/"+gen.ID.String(), []byte(okBody), b.signed(okBody))
				require.Equal(t, delivery{status: http.StatusOK, outcome: store.OutcomeMismatchedRequest}, d)
			},
		},
		{
			name: "unknown generation", msg: "signed webhook for unknown generation",
			reason: string(store.OutcomeUnknownGeneration), outcome: store.OutcomeUnknownGeneration,
			target: func(*testing.T, *rejectionBundle) *store.Generation { return &store.Generation{ID: uuid.New()} },
			deliver: func(t *testing.T, b *rejectionBundle, gen *store.Generation) {
				d := b.deliver(t, "/webhooks/fal/"+gen.ID.String(), []byte(okBody), b.signed(okBody))
				require.Equal(t, delivery{status: http.StatusOK, outcome: store.OutcomeUnknownGeneration}, d)
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupRejectionLog(t)
			gen := tt.target(t, b)
			start := b.clock.Now()

			for range flood {
				tt.deliver(t, b, gen)
			}
			first := rejectionLine{Level: "WARN", GenerationID: gen.ID.String(), Reason: tt.reason, Rejected: 1, Since: start}
			lines := b.lines(t, tt.msg)
			require.Equal(t, []rejectionLine{first}, lines["WARN"], "one WARN for the flood")
			require.Len(t, lines["DEBUG"], flood-1, "the others at DEBUG")

			// Just short of a minute, still counted only.
			b.clock.Advance(webhooks.RejectionLogEvery - time.Millisecond)
			tt.deliver(t, b, gen)
			require.Len(t, b.lines(t, tt.msg)["WARN"], 1)

			// A minute after the WARN: the next one, for all since.
			b.clock.Advance(time.Millisecond)
			tt.deliver(t, b, gen)
			next := first
			next.Rejected = flood + 1 // the flood but its first, the one just short, this one
			require.Equal(t, []rejectionLine{first, next}, b.lines(t, tt.msg)["WARN"])

			require.Equal(t, float64(flood+2), b.scrape()[`easel_webhooks_received_total{outcome="`+string(tt.outcome)+`"}`], "every one counted")
			var rows int
			require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM webhook_events`).Scan(&rows))
			require.Equal(t, store.MaxWebhookEvents, rows, "kept up to the cap of their kind, as ever")
		})
	}
}

// A signature refused for another reason than the flood's has its own
// WARN at once: junk without signature headers does not hold back the line
// of a delivery no key verifies, such as fal's own after a key rotation.
func TestRejectionOfAnotherReasonIsLoggedAtOnce(t *testing.T) {
	t.Parallel()
	b := setupRejectionLog(t)
	gen := b.enqueue(t)
	path := "/webhooks/fal/" + gen.ID.String()

	unsigned := http.Header{}
	for range 5 {
		require.Equal(t, http.StatusUnauthorized, b.deliver(t, path, []byte(okBody), unsigned.Clone()).status)
	}
	_, otherKey, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	rotated := fal.SignWebhook(otherKey, "req-1", "user-1", time.Now(), []byte(okBody))
	require.Equal(t, http.StatusUnauthorized, b.deliver(t, path, []byte(okBody), rotated).status)

	var reasons []string
	for _, l := range b.lines(t, "webhook rejected: bad signature")["WARN"] {
		reasons = append(reasons, l.Reason)
	}
	require.Equal(t, []string{"missing_header", "no_key_verifies"}, reasons)
}
