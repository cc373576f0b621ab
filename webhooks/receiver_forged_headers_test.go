package webhooks_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// hugeHeader is an attacker-chosen header value. net/http admits up to
// 1 MiB of headers per request by default (easel serve, 64 KiB), and the
// receiver reads them before it verifies anything.
var hugeHeader = strings.Repeat("A", 256<<10)

// cutHugeHeader is what is kept of hugeHeader.
var cutHugeHeader = strings.Repeat("A", 256) + fmt.Sprintf("… (cut from %d bytes)", len(hugeHeader))

// A forged delivery at a made-up id writes nothing to the database, and the
// line that logs its rejection quotes only the start of its headers: no
// key, account or generation id is needed to send one, so the log must not
// grow by what the sender sends.
func TestForgedWebhookLogsOnlyTheStartOfItsHeaders(t *testing.T) {
	t.Parallel()
	b, logs := setupLogged(t)

	header := http.Header{}
	header.Set("X-Fal-Webhook-Request-Id", hugeHeader)
	header.Set("X-Fal-Webhook-User-Id", "user-1")
	header.Set("X-Fal-Webhook-Timestamp", hugeHeader)
	header.Set("X-Fal-Webhook-Signature", strings.Repeat("0", 128))
	d := b.deliver(t, "/webhooks/fal/"+uuid.Must(uuid.NewV7()).String(), []byte(okBody), header)
	require.Equal(t, delivery{status: http.StatusUnauthorized, code: "bad_signature"}, d)

	var entry struct {
		Msg          string `json:"msg"`
		FalRequestID string `json:"fal_request_id"`
		Error        string `json:"error"`
	}
	require.NoError(t, json.Unmarshal([]byte(logs.String()), &entry), "one line: %.500s", logs.String())
	require.Equal(t, "webhook rejected: bad signature", entry.Msg)
	require.Equal(t, cutHugeHeader, entry.FalRequestID)
	require.Equal(t, `fal webhook: timestamp outside tolerance: "`+strings.Repeat("A", 32)+`"… is not a Unix time`, entry.Error)
	require.Less(t, len(logs.String()), 1<<10)

	var stored int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM webhook_events`).Scan(&stored))
	require.Zero(t, stored)
}

// A forged delivery at a known generation is stored, bounded: its body cut
// to 4 KiB, each header, the request id it claims and the error quoting its
// timestamp cut to their start, and its headers to 4 KiB in all, fal's
// first (docs/RELIABILITY.md "Hostile traffic").
func TestForgedWebhookIsStoredBounded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	gen := b.enqueue(t)

	header := http.Header{}
	header.Set("X-Fal-Webhook-Request-Id", hugeHeader)
	header.Set("X-Fal-Webhook-User-Id", "user-1")
	header.Set("X-Fal-Webhook-Timestamp", strings.Repeat("9", 64<<10))
	header.Set("X-Fal-Webhook-Signature", strings.Repeat("0", 128))
	header.Set("A-Padding", hugeHeader)
	for i := range 100 {
		header.Set(fmt.Sprintf("B-Padding-%03d", i), strings.Repeat("p", 1<<10))
	}
	d := b.deliver(t, "/webhooks/fal/"+gen.ID.String(), []byte(okBody), header)
	require.Equal(t, delivery{status: http.StatusUnauthorized, code: "bad_signature"}, d)

	var (
		falRequestID, signatureError string
		headers                      map[string]string
		stored                       int
	)
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT fal_request_id, signature_error, headers,
			octet_length(headers::text) + octet_length(body) + octet_length(fal_request_id) + octet_length(signature_error)
		FROM webhook_events WHERE generation_id = $1`, gen.ID).Scan(&falRequestID, &signatureError, &headers, &stored))
	require.Equal(t, cutHugeHeader, falRequestID)
	require.Equal(t, `fal webhook: timestamp outside tolerance: "`+strings.Repeat("9", 32)+`"… is not a Unix time`, signatureError)
	require.Equal(t, cutHugeHeader, headers["X-Fal-Webhook-Request-Id"], "fal's headers are kept first")
	require.Equal(t, "user-1", headers["X-Fal-Webhook-User-Id"])
	require.Equal(t, cutHugeHeader, headers["A-Padding"])
	require.Contains(t, headers["(omitted)"], " headers beyond the 4096 bytes kept")
	require.LessOrEqual(t, stored, 12<<10, "one forged delivery stored %d bytes", stored)
}

// HTTP allows bytes that are not UTF-8 in a header, and a text column
// refuses them: a forged delivery claiming such a request id is stored and
// refused as any other, not answered 500 as if Easel had failed.
func TestForgedWebhookWithNonUTF8RequestIDIsStored(t *testing.T) {
	t.Parallel()
	b := setup(t)
	gen := b.enqueue(t)

	header := http.Header{}
	header.Set("X-Fal-Webhook-Request-Id", "req-\xff")
	header.Set("X-Fal-Webhook-User-Id", "user-1")
	header.Set("X-Fal-Webhook-Timestamp", "1")
	header.Set("X-Fal-Webhook-Signature", strings.Repeat("0", 128))
	d := b.deliver(t, "/webhooks/fal/"+gen.ID.String(), []byte(okBody), header)
	require.Equal(t, delivery{status: http.StatusUnauthorized, code: "bad_signature"}, d)

	var falRequestID string
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT fal_request_id FROM webhook_events WHERE generation_id = $1`, gen.ID).Scan(&falRequestID))
	require.Equal(t, "req-\uFFFD", falRequestID)
}
