package webhooks_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/store"
)

// unknownEvent is a stored delivery for a generation that does not exist.
type unknownEvent struct {
	falRequestID   string
	bodyLen        int
	bodySize       int
	signatureValid bool
	outcome        store.WebhookOutcome
}

func (b *testBundle) unknownEvents(t *testing.T) []unknownEvent {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, `
		SELECT fal_request_id, length(body), body_size, signature_valid, outcome
		FROM webhook_events WHERE generation_id IS NULL ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	var events []unknownEvent
	for rows.Next() {
		var e unknownEvent
		require.NoError(t, rows.Scan(&e.falRequestID, &e.bodyLen, &e.bodySize, &e.signatureValid, &e.outcome))
		events = append(events, e)
	}
	require.NoError(t, rows.Err())
	return events
}

// A signed delivery for a generation that does not exist is kept, its body
// cut to 4 KiB, and answered 200 so that fal stops retrying it: no retry can
// make the generation exist.
func TestUnknownGenerationWebhookIsKept(t *testing.T) {
	t.Parallel()
	b := setup(t)

	d := b.deliver(t, unknownPath, []byte(okBody), b.signed(okBody))
	require.Equal(t, delivery{status: 200, outcome: store.OutcomeUnknownGeneration}, d)

	large := okBodyFor("req-2")
	large = strings.Replace(large, `"error": null`, `"error": null, "padding": "`+strings.Repeat("x", 8<<10)+`"`, 1)
	d = b.deliver(t, "/webhooks/fal/"+uuid.NewString(), []byte(large), fal.SignWebhook(b.key, "req-2", "user-1", time.Now(), []byte(large)))
	require.Equal(t, delivery{status: 200, outcome: store.OutcomeUnknownGeneration}, d)

	require.Equal(t, []unknownEvent{
		{falRequestID: "req-1", bodyLen: len(okBody), bodySize: len(okBody), signatureValid: true, outcome: "unknown_generation"},
		{falRequestID: "req-2", bodyLen: 4 << 10, bodySize: len(large), signatureValid: true, outcome: "unknown_generation"},
	}, b.unknownEvents(t))
}

// Replays of one signed delivery at many made-up generation ids keep at
// most store.MaxWebhookEvents events, and are all answered 200.
func TestUnknownGenerationWebhookFloodIsBounded(t *testing.T) {
	t.Parallel()
	b := setup(t)

	header := b.signed(okBody)
	for range store.MaxWebhookEvents + 3 {
		d := b.deliver(t, "/webhooks/fal/"+uuid.NewString(), []byte(okBody), header.Clone())
		require.Equal(t, delivery{status: 200, outcome: store.OutcomeUnknownGeneration}, d)
	}
	require.Len(t, b.unknownEvents(t), store.MaxWebhookEvents)
}
