package webhooks_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
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
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/store"
	"github.com/easelhq/easel/webhooks"
)

// setupLogged is setup with the receiver's log, as JSON lines.
func setupLogged(t *testing.T) (*testBundle, *logtest.Buffer) {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	logs := &logtest.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	b := &testBundle{ctx: context.Background(), pool: dbtest.Pool(t), key: key}
	e := echo.New()
	e.HTTPErrorHandler = apierror.Handler(logger)
	webhooks.NewReceiver(b.pool, fal.NewVerifier(fal.VerifierConfig{Keys: faltest.StaticKeys{pub}}), logger).Register(e)
	b.server = httptest.NewServer(e)
	t.Cleanup(b.server.Close)
	return b, logs
}

// A delivery that cannot be recorded is answered 500, so that fal delivers
// it again, and logged with its generation and fal request.
func TestUnrecordedWebhookIsLoggedWithItsIDs(t *testing.T) {
	t.Parallel()
	b, logs := setupLogged(t)
	key := b.key

	gen := b.enqueue(t)
	_, err := b.pool.Exec(b.ctx, `
		CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$;
		CREATE TRIGGER refuse BEFORE INSERT ON webhook_events FOR EACH ROW EXECUTE FUNCTION refuse()`)
	require.NoError(t, err)

	for _, tt := range []struct {
		name    string
		headers http.Header
	}{
		{name: "signed", headers: b.signed(okBody)},
		{name: "bad signature", headers: fal.SignWebhook(key, "req-1", "user-1", time.Now(), []byte("another body"))},
	} {
		d := b.deliver(t, "/webhooks/fal/"+gen.ID.String(), []byte(okBody), tt.headers)
		require.Equal(t, delivery{status: http.StatusInternalServerError, code: "internal"}, d, tt.name)
	}

	var failures int
	for _, entry := range logs.Records(t) {
		require.Equal(t, gen.ID.String(), entry["generation_id"], entry)
		require.Equal(t, "req-1", entry["fal_request_id"], entry)
		if entry["level"] == "ERROR" {
			require.Equal(t, "webhook not recorded; fal will deliver it again", entry["msg"])
			require.Contains(t, entry["error"], "disk full")
			failures++
		}
	}
	require.Equal(t, 2, failures)
}

// fal's failure of a generation is explained in the log, not only in its
// row: which generation, which request, fal's error code and message.
func TestFailedGenerationIsLogged(t *testing.T) {
	t.Parallel()
	b, logs := setupLogged(t)
	key := b.key

	failed, completed := b.enqueue(t), b.enqueue(t)
	body := `{"error": "Invalid status code: 422", "gateway_request_id": "req-1", "payload": {"detail": [{"loc": ["body", "image_prompt_1"], ` +
		`"msg": "Image contains inappropriate content", "type": "content_policy_violation"}]}, "request_id": "req-1", "status": "ERROR"}`
	require.Equal(t, delivery{status: 200, outcome: "applied"}, b.deliver(t, "/webhooks/fal/"+failed.ID.String(), []byte(body), b.signed(body)))
	ok := strings.ReplaceAll(okBody, "req-1", "req-2")
	require.Equal(t, delivery{status: 200, outcome: "applied"},
		b.deliver(t, "/webhooks/fal/"+completed.ID.String(), []byte(ok), fal.SignWebhook(key, "req-2", "user-1", time.Now(), []byte(ok))))

	failures := logs.Lines(t, "generation failed at fal")
	require.Len(t, failures, 1, "only the failed generation: %s", logs.String())
	require.Equal(t, failed.ID.String(), failures[0]["generation_id"])
	require.Equal(t, "req-1", failures[0]["fal_request_id"])
	require.Equal(t, "content_policy_violation", failures[0]["error_code"])
	require.Contains(t, failures[0]["error_message"], "inappropriate content")
}

// A result fal completed but Easel could not read fails its generation
// invalid_output and is logged at ERROR, as the poll and cancel paths log
// it: fal likely billed it, and the line says where its output is kept.
// It is not "generation failed at fal", which explains fal's own failures
// at INFO.
func TestUnreadableWebhookOutputIsLoggedAtError(t *testing.T) {
	t.Parallel()
	b, logs := setupLogged(t)

	gen := b.enqueue(t)
	body := `{"error": null, "gateway_request_id": "req-1", "payload": {"images": "not a list"}, "request_id": "req-1", "status": "OK"}`
	require.Equal(t, delivery{status: 200, outcome: "applied"}, b.deliver(t, "/webhooks/fal/"+gen.ID.String(), []byte(body), b.signed(body)))
	got, err := store.GetGeneration(b.ctx, b.pool, gen.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusFailed, got.Status)
	require.Equal(t, store.ErrorCodeInvalidOutput, *got.ErrorCode)

	var errored []map[string]any
	for _, entry := range logs.Records(t) {
		if entry["level"] == "ERROR" {
			errored = append(errored, entry)
		}
	}
	require.Len(t, errored, 1, logs.String())
	require.Contains(t, errored[0]["msg"], "Easel could not read its output")
	require.Contains(t, errored[0]["msg"], "webhook_events")
	require.Equal(t, gen.ID.String(), errored[0]["generation_id"])
	require.Equal(t, "req-1", errored[0]["fal_request_id"])
	require.Equal(t, store.ErrorCodeInvalidOutput, errored[0]["error_code"])
	require.Equal(t, "decode fal output: images is not a list", errored[0]["error_message"])
	require.Empty(t, logs.Lines(t, "generation failed at fal"), logs.String())

	var kept []byte
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT body FROM webhook_events WHERE generation_id = $1`, gen.ID).Scan(&kept))
	require.Equal(t, body, string(kept))
}

// A stale signature is described the right way round: a timestamp in the
// past as so long ago, one ahead of the clock as so long from now, in the
// log and in the stored event alike. Each case has a receiver of its own,
// whose first rejection for a stale timestamp is logged at WARN.
func TestStaleSignatureIsLoggedWithItsDirection(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		// signedAt is the delivery's timestamp, given the time it is signed.
		signedAt func(now time.Time) time.Time
		want     string
	}{
		{"past", func(now time.Time) time.Time { return now.Add(-10 * time.Minute) }, `, 10m[01]s ago$`},
		{"future", func(now time.Time) time.Time { return now.Add(10 * time.Minute) }, `, 9m5\ds from now$|, 10m0s from now$`},
		{"epoch", func(time.Time) time.Time { return time.Unix(1, 0) }, `signed at 1 \(1970-01-01T00:00:01Z\), \d+h\d+m\d+s ago$`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, logs := setupLogged(t)
			gen := b.enqueue(t)
			d := b.deliver(t, "/webhooks/fal/"+gen.ID.String(), []byte(okBody), fal.SignWebhook(b.key, "req-1", "user-1", tt.signedAt(time.Now()), []byte(okBody)))
			require.Equal(t, delivery{status: http.StatusUnauthorized, code: "bad_signature"}, d)

			var logged struct {
				Msg   string `json:"msg"`
				Error string `json:"error"`
			}
			for line := range strings.Lines(logs.String()) {
				if strings.Contains(line, gen.ID.String()) {
					require.NoError(t, json.Unmarshal([]byte(line), &logged), line)
				}
			}
			require.Equal(t, "webhook rejected: bad signature", logged.Msg)
			require.True(t, strings.HasPrefix(logged.Error, "fal webhook: timestamp outside tolerance: signed at "), logged.Error)
			require.Regexp(t, tt.want, logged.Error)

			var stored string
			require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT signature_error FROM webhook_events WHERE generation_id = $1`, gen.ID).Scan(&stored))
			require.Equal(t, logged.Error, stored)
		})
	}
}

// A result of an earlier submission that finishes a generation recording a
// later request is applied, and the log names both requests: the later one,
// queued to be cancelled at fal, would otherwise run on and bill unseen.
func TestSupersededRequestIsLogged(t *testing.T) {
	t.Parallel()
	b, logs := setupLogged(t)

	gen := b.enqueue(t) // req-1, its answer lost
	_, err := store.MarkSubmitting(b.ctx, b.pool, gen.ID)
	require.NoError(t, err)
	_, err = store.RecordSubmitted(b.ctx, b.pool, gen.ID, store.Submission{RequestID: "req-2"})
	require.NoError(t, err)

	require.Equal(t, delivery{status: 200, outcome: "applied"}, b.deliver(t, "/webhooks/fal/"+gen.ID.String(), []byte(okBody), b.signed(okBody)))
	got, _, _ := b.generation(t, gen)
	require.Equal(t, store.StatusCompleted, got.Status)
	require.Equal(t, "req-1", *got.FalRequestID)

	var warned []map[string]any
	for _, entry := range logs.Records(t) {
		if entry["level"] == "WARN" {
			warned = append(warned, entry)
		}
	}
	require.Len(t, warned, 1, logs.String())
	require.Equal(t, "the result of an earlier submission finished the generation; the request recorded since is queued to be cancelled at fal",
		warned[0]["msg"])
	require.Equal(t, gen.ID.String(), warned[0]["generation_id"])
	require.Equal(t, "req-1", warned[0]["fal_request_id"])
	require.Equal(t, "req-2", warned[0]["superseded_fal_request_id"])
}
