package webhooks_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/store"
)

// storedDelivery is what webhook_events keeps of a delivery that named no
// generation.
type storedDelivery struct {
	RequestID      string
	Body           string
	BodySize       int
	SignatureValid bool
	Signature      string
	Outcome        store.WebhookOutcome
}

func (b *testBundle) storedDeliveries(t *testing.T) []storedDelivery {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, `
		SELECT fal_request_id, convert_from(body, 'UTF8'), body_size, signature_valid,
			coalesce(headers->>'X-Fal-Webhook-Signature', ''), outcome
		FROM webhook_events WHERE generation_id IS NULL ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	var out []storedDelivery
	for rows.Next() {
		var d storedDelivery
		require.NoError(t, rows.Scan(&d.RequestID, &d.Body, &d.BodySize, &d.SignatureValid, &d.Signature, &d.Outcome))
		out = append(out, d)
	}
	require.NoError(t, rows.Err())
	return out
}

// A signed webhook for a generation that was deleted (here, one finished
// before fal's webhook came, then deleted) is kept without its body, which
// holds the images' links or, for fal's error, the input echoed back: the
// personal data the deletion removed. It is answered 200, as for an
// unknown generation, whose deliveries keep their body.
func TestDeletedGenerationWebhookKeepsNoBody(t *testing.T) {
	t.Parallel()
	b, scrape := setupMetered(t, validKeys)
	gen := b.enqueue(t)
	path := "/webhooks/fal/" + gen.ID.String()
	require.Equal(t, delivery{status: 200, outcome: store.OutcomeApplied}, b.deliver(t, path, []byte(okBody), b.signed(okBody)))
	_, err := b.pool.Exec(b.ctx, `DELETE FROM generations WHERE id = $1`, gen.ID)
	require.NoError(t, err)

	errorBody := `{"error": "Invalid status code: 422", "gateway_request_id": "req-lost", "payload": {"detail": [{"input": ` +
		`"https://example.com/face.png", "loc": ["body", "image_prompt_1", "image_url"], "msg": "bad image", "type": "value_error"}]}, ` +
		`"request_id": "req-lost", "status": "ERROR"}`
	stray := okBodyFor("req-stray")
	for _, tt := range []struct {
		name      string
		path      string
		body      string
		requestID string
		want      store.WebhookOutcome
	}{
		{"fal's delivery again", path, okBody, "req-1", store.OutcomeDeletedGeneration},
		// A submission whose answer was lost: its request was never the
		// generation's, its URL is.
		{"another request's error, echoing the input", path, errorBody, "req-lost", store.OutcomeDeletedGeneration},
		{"the deleted request at another URL", "/webhooks/fal/" + uuid.NewString(), okBody, "req-1", store.OutcomeDeletedGeneration},
		{"an id Easel never had", unknownPath, stray, "req-stray", store.OutcomeUnknownGeneration},
	} {
		header := fal.SignWebhook(b.key, tt.requestID, "user-1", time.Now(), []byte(tt.body))
		require.Equal(t, delivery{status: http.StatusOK, outcome: tt.want}, b.deliver(t, tt.path, []byte(tt.body), header), tt.name)
	}

	deleted := func(requestID string, size int) storedDelivery {
		return storedDelivery{RequestID: requestID, BodySize: size, SignatureValid: true, Outcome: store.OutcomeDeletedGeneration}
	}
	got := b.storedDeliveries(t)
	require.Len(t, got, 4)
	for i := range got {
		require.NotEmpty(t, got[i].Signature, "fal's signature headers are kept")
		got[i].Signature = ""
	}
	require.Equal(t, []storedDelivery{
		deleted("req-1", len(okBody)),
		deleted("req-lost", len(errorBody)),
		deleted("req-1", len(okBody)),
		{RequestID: "req-stray", Body: stray, BodySize: len(stray), SignatureValid: true, Outcome: store.OutcomeUnknownGeneration},
	}, got)

	s := scrape()
	require.Equal(t, 3.0, s[`easel_webhooks_received_total{outcome="deleted_generation"}`])
	require.Equal(t, 1.0, s[`easel_webhooks_received_total{outcome="unknown_generation"}`])
}
