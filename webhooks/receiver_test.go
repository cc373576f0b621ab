package webhooks_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/faltest"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/notify"
	"github.com/easelhq/easel/store"
	"github.com/easelhq/easel/webhooks"
)

type testBundle struct {
	ctx    context.Context
	pool   *pgxpool.Pool
	server *httptest.Server
	key    ed25519.PrivateKey
	// publisher announces what the receiver finishes.
	publisher *notify.Publisher
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	return setupWithKeys(t, key, faltest.StaticKeys{pub})
}

func setupWithKeys(t *testing.T, key ed25519.PrivateKey, keys fal.KeySource) *testBundle {
	t.Helper()
	pool := dbtest.Pool(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := echo.New()
	e.HTTPErrorHandler = apierror.Handler(logger)
	publisher := notify.NewPublisher(pool, store.GenerationFinishedChannel, logger)
	webhooks.NewReceiver(pool, fal.NewVerifier(fal.VerifierConfig{Keys: keys}), logger).WithPublisher(publisher).Register(e)
	server := httptest.NewServer(e)
	t.Cleanup(server.Close)
	return &testBundle{ctx: context.Background(), pool: pool, server: server, key: key, publisher: publisher}
}

// enqueue creates a generation whose submission is under way, as the submit
// worker leaves it just before calling fal: still queued, the submission
// counted, fal's answer not recorded. A webhook may beat that answer. No
// River client runs.
func (b *testBundle) enqueue(t *testing.T) *store.Generation {
	t.Helper()
	gen := b.enqueueUnsubmitted(t)
	gen, err := store.MarkSubmitting(b.ctx, b.pool, gen.ID)
	require.NoError(t, err)
	return gen
}

// enqueueUnsubmitted creates a queued generation that was never submitted.
func (b *testBundle) enqueueUnsubmitted(t *testing.T) *store.Generation {
	t.Helper()
	var gen *store.Generation
	require.NoError(t, pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		enqueued, err := jobs.Enqueue(b.ctx, tx, "tests", `{"num_images": 2, "image_prompt_1": {"image_url": "https://example.com/a.png"}}`, nil)
		if err == nil {
			gen = enqueued.Generation
		}
		return err
	}))
	return gen
}

type delivery struct {
	status  int
	outcome store.WebhookOutcome
	code    string
}

func (b *testBundle) deliver(t *testing.T, path string, body []byte, header http.Header) delivery {
	t.Helper()
	req, err := http.NewRequestWithContext(b.ctx, http.MethodPost, b.server.URL+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header = header
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		Outcome store.WebhookOutcome `json:"outcome"`
		Error   struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return delivery{status: resp.StatusCode, outcome: out.Outcome, code: out.Error.Code}
}

func (b *testBundle) signed(body string) http.Header {
	return fal.SignWebhook(b.key, "req-1", "user-1", time.Now(), []byte(body))
}

func (b *testBundle) generation(t *testing.T, gen *store.Generation) (*store.Generation, []store.Image, []store.WebhookOutcome) {
	t.Helper()
	got, err := store.GetGeneration(b.ctx, b.pool, gen.ID)
	require.NoError(t, err)
	images, err := store.ListImages(b.ctx, b.pool, gen.ID)
	require.NoError(t, err)
	rows, err := b.pool.Query(b.ctx, `SELECT outcome FROM webhook_events WHERE generation_id = $1 ORDER BY id`, gen.ID)
	require.NoError(t, err)
	outcomes, err := pgx.CollectRows(rows, pgx.RowTo[store.WebhookOutcome])
	require.NoError(t, err)
	return got, images, outcomes
}

const okBody = `{"error": null, "gateway_request_id": "req-1", "payload": {"has_nsfw_concepts": [false, true], "images": [` +
	`{"content_type": "image/png", "file_name": "a.png", "file_size": 10, "height": 64, "url": "https://cdn.example/a.png", "width": 32}, ` +
	`{"content_type": "image/png", "file_name": "b.png", "file_size": 20, "height": 64, "url": "https://cdn.example/b.png", "width": 32}], ` +
	`"seed": 17454220438242315174, "timings": {"inference": 2.5}}, "request_id": "req-1", "status": "OK"}`

func TestOKWebhookCompletes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	gen := b.enqueue(t)

	d := b.deliver(t, "/webhooks/fal/"+gen.ID.String(), []byte(okBody), b.signed(okBody))
	require.Equal(t, delivery{status: 200, outcome: "applied"}, d)

	got, images, outcomes := b.generation(t, gen)
	require.Equal(t, store.StatusCompleted, got.Status, "a webhook may beat the submit call and still applies")
	require.Equal(t, "req-1", *got.FalRequestID)
	require.True(t, *got.HasNSFW)
	require.InDelta(t, 2.5, *got.InferenceSeconds, 0)
	require.JSONEq(t, `{"inference": 2.5}`, string(got.Timings))
	require.Equal(t, []store.Image{
		{Position: 0, URL: "https://cdn.example/a.png", ContentType: "image/png", FileName: "a.png", FileSize: 10, Width: 32, Height: 64, NSFW: new(false)},
		{Position: 1, URL: "https://cdn.example/b.png", ContentType: "image/png", FileName: "b.png", FileSize: 20, Width: 32, Height: 64, NSFW: new(true)},
	}, images)
	require.Equal(t, []store.WebhookOutcome{store.OutcomeApplied}, outcomes)

	var stored []byte
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT body FROM webhook_events WHERE generation_id = $1`, gen.ID).Scan(&stored))
	require.Equal(t, okBody, string(stored), "the raw body is kept byte for byte, 20-digit seed included")

	// A second delivery changes nothing.
	d = b.deliver(t, "/webhooks/fal/"+gen.ID.String(), []byte(okBody), b.signed(okBody))
	require.Equal(t, delivery{status: 200, outcome: "duplicate"}, d)
	_, images, outcomes = b.generation(t, gen)
	require.Len(t, images, 2)
	require.Equal(t, []store.WebhookOutcome{store.OutcomeApplied, store.OutcomeDuplicate}, outcomes)
}

func TestErrorWebhookFails(t *testing.T) {
	t.Parallel()
	b := setup(t)
	gen := b.enqueue(t)

	body := `{"error": "Invalid status code: 422", "gateway_request_id": "req-1", "payload": {"detail": [{"ctx": {"le": 4}, "input": 5, ` +
		`"loc": ["body", "num_images"], "msg": "Input should be less than or equal to 4", "type": "less_than_equal"}]}, "request_id": "req-1", "status": "ERROR"}`
	d := b.deliver(t, "/webhooks/fal/"+gen.ID.String(), []byte(body), b.signed(body))
	require.Equal(t, delivery{status: 200, outcome: "applied"}, d)

	got, images, _ := b.generation(t, gen)
	require.Equal(t, store.StatusFailed, got.Status)
	require.Equal(t, "less_than_equal", *got.ErrorCode)
	require.Contains(t, *got.ErrorMessage, "num_images")
	require.Empty(t, images)
}

func TestPayloadErrorWebhookIsDeferred(t *testing.T) {
	t.Parallel()
	b := setup(t)
	gen := b.enqueue(t)

	body := `{"error": null, "gateway_request_id": "req-1", "payload": null, "payload_error": "Response payload is not JSON serializable", "request_id": "req-1", "status": "OK"}`
	d := b.deliver(t, "/webhooks/fal/"+gen.ID.String(), []byte(body), b.signed(body))
	require.Equal(t, delivery{status: 200, outcome: "deferred"}, d)

	got, _, outcomes := b.generation(t, gen)
	require.Equal(t, store.StatusQueued, got.Status, "the result must be fetched; nothing is decided yet")
	require.Equal(t, []store.WebhookOutcome{store.OutcomeDeferred}, outcomes)
}

func TestRejectedWebhooks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	gen := b.enqueue(t)
	path := "/webhooks/fal/" + gen.ID.String()

	_, otherKey, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	stale := fal.SignWebhook(b.key, "req-1", "user-1", time.Now().Add(-10*time.Minute), []byte(okBody))
	noSignature := b.signed(okBody)
	noSignature.Del("X-Fal-Webhook-Signature")
	malformed := `{"status": "OK"}`

	tests := []struct {
		name    string
		path    string
		body    string
		header  http.Header
		want    delivery
		outcome string // stored event, "" for none
	}{
		{"wrong key", path, okBody, fal.SignWebhook(otherKey, "req-1", "user-1", time.Now(), []byte(okBody)), delivery{status: 401, code: "bad_signature"}, "bad_signature"},
		{"tampered body", path, strings.Replace(okBody, "a.png", "evil.png", 1), b.signed(okBody), delivery{status: 401, code: "bad_signature"}, "bad_signature"},
		{"stale timestamp", path, okBody, stale, delivery{status: 401, code: "bad_signature"}, "bad_signature"},
		{"missing signature", path, okBody, noSignature, delivery{status: 401, code: "bad_signature"}, "bad_signature"},
		{"signed but malformed", path, malformed, b.signed(malformed), delivery{status: 400, code: "malformed"}, "malformed"},
		{"not a generation id", "/webhooks/fal/not-a-uuid", okBody, b.signed(okBody), delivery{status: 404, code: "not_found"}, ""},
		{"unknown generation, wrong key", unknownPath, okBody, fal.SignWebhook(otherKey, "req-1", "user-1", time.Now(), []byte(okBody)), delivery{status: 401, code: "bad_signature"}, ""},
		{"unknown generation, no signature", unknownPath, okBody, noSignature, delivery{status: 401, code: "bad_signature"}, ""},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, b.deliver(t, tt.path, []byte(tt.body), tt.header.Clone()), tt.name)
	}

	got, images, outcomes := b.generation(t, gen)
	require.Equal(t, store.StatusQueued, got.Status)
	require.Empty(t, images)
	require.Equal(t, []store.WebhookOutcome{store.OutcomeBadSignature, store.OutcomeBadSignature, store.OutcomeBadSignature,
		store.OutcomeBadSignature, store.OutcomeMalformed}, outcomes)
	var total int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM webhook_events`).Scan(&total))
	require.Equal(t, 5, total, "deliveries that fail verification for unknown generations store nothing")
}

// unknownPath is the webhook URL of a generation that does not exist.
const unknownPath = "/webhooks/fal/01000000-0000-7000-8000-000000000000"

func TestRejectedBodyIsTruncated(t *testing.T) {
	t.Parallel()
	b := setup(t)
	gen := b.enqueue(t)

	body := `{"junk": "` + strings.Repeat("x", 64<<10) + `"}`
	_, otherKey, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	d := b.deliver(t, "/webhooks/fal/"+gen.ID.String(), []byte(body), fal.SignWebhook(otherKey, "r", "u", time.Now(), []byte(body)))
	require.Equal(t, 401, d.status)

	var stored, size int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT length(body), body_size FROM webhook_events WHERE generation_id = $1`, gen.ID).Scan(&stored, &size))
	require.Equal(t, 4<<10, stored)
	require.Equal(t, len(body), size)
}

func TestOversizedBodyIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	gen := b.enqueue(t)

	body := bytes.Repeat([]byte("x"), webhooks.MaxBodyBytes+1)
	d := b.deliver(t, "/webhooks/fal/"+gen.ID.String(), body, b.signed(string(body)))
	require.Equal(t, delivery{status: 413, code: "too_large"}, d)
	_, _, outcomes := b.generation(t, gen)
	require.Empty(t, outcomes)
}

// failingKeys is a key source whose JWKS endpoint is down.
type failingKeys struct{}

func (failingKeys) Keys(context.Context, bool) ([]ed25519.PublicKey, error) {
	return nil, io.ErrUnexpectedEOF
}

func TestUnavailableKeysAskForRedelivery(t *testing.T) {
	t.Parallel()
	_, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	b := setupWithKeys(t, key, failingKeys{})
	gen := b.enqueue(t)

	d := b.deliver(t, "/webhooks/fal/"+gen.ID.String(), []byte(okBody), b.signed(okBody))
	require.Equal(t, delivery{status: 503, code: "keys_unavailable"}, d, "fal retries a 5xx; the delivery is not lost")
	got, _, outcomes := b.generation(t, gen)
	require.Equal(t, store.StatusQueued, got.Status)
	require.Empty(t, outcomes)
}

// A delivery declaring more than MaxBodyBytes is refused before its body is
// read: the sender waiting on Expect: 100-continue gets 413, not 100.
func TestDeclaredOversizedBodyIsRefusedUnread(t *testing.T) {
	t.Parallel()
	b := setup(t)
	gen := b.enqueue(t)

	conn, err := net.Dial("tcp", b.server.Listener.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = fmt.Fprintf(conn, "POST /webhooks/fal/%s HTTP/1.1\r\nHost: easel\r\nContent-Type: application/json\r\n"+
		"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n", gen.ID, webhooks.MaxBodyBytes+1)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	_, _, outcomes := b.generation(t, gen)
	require.Empty(t, outcomes)
}
