package store_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// deleteGeneration deletes generation id as a DBA would, and with it
// everything that refers to it. unsafe sets easel.allow_unsafe_delete for
// the deletion, which migration 000028's trigger otherwise refuses for an
// unfinished generation or one with a cancel fal has not answered.
func (b *testBundle) deleteGeneration(t *testing.T, id uuid.UUID, unsafe bool) {
	t.Helper()
	require.NoError(t, pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		if unsafe {
			if _, err := tx.Exec(b.ctx, `SET LOCAL easel.allow_unsafe_delete = on`); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(b.ctx, `DELETE FROM generations WHERE id = $1`, id)
		if err == nil {
			require.EqualValues(t, 1, tag.RowsAffected())
		}
		return err
	}))
}

// storedUnknown is a stored delivery with a null generation_id.
type storedUnknown struct {
	RequestID string
	Body      string
	BodySize  int
	Headers   map[string]string
	Outcome   store.WebhookOutcome
}

func (b *testBundle) storedUnknown(t *testing.T, id int64) storedUnknown {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, `
		SELECT fal_request_id, convert_from(body, 'UTF8'), body_size, headers, outcome
		FROM webhook_events WHERE id = $1 AND generation_id IS NULL`, id)
	require.NoError(t, err)
	event, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[storedUnknown])
	require.NoError(t, err)
	return event
}

// A signed delivery for a deleted generation, found by its fal request or
// by the generation its URL names, is stored without its body, which
// would bring back the personal data the deletion removed; one for an id
// Easel never had keeps its body, the only record of what fal ran.
func TestUnknownGenerationWebhookEventOfDeletedGeneration(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insert(t, "")
	require.True(t, b.complete(t, g.ID, store.Completion{FalRequestID: "req-deleted"}))
	b.deleteGeneration(t, g.ID, false)
	never := uuid.New()

	const body = `{"request_id": "x", "payload": {"images": [{"url": "https://cdn.example/face.png"}]}}`
	headers := map[string]string{"X-Fal-Webhook-Request-Id": "x", "X-Fal-Webhook-Signature": "sig"}
	tests := []struct {
		name         string
		requestID    string
		generationID *uuid.UUID
		want         storedUnknown
	}{
		{
			name: "the deleted generation's request, at another URL", requestID: "req-deleted", generationID: &never,
			want: storedUnknown{RequestID: "req-deleted", Body: "", BodySize: len(body), Headers: headers, Outcome: store.OutcomeDeletedGeneration},
		},
		{
			name: "the deleted generation's request, no URL id", requestID: "req-deleted",
			want: storedUnknown{RequestID: "req-deleted", Body: "", BodySize: len(body), Headers: headers, Outcome: store.OutcomeDeletedGeneration},
		},
		{
			// A submission whose answer was lost: a request the generation
			// never recorded, at its URL.
			name: "another request at the deleted generation's URL", requestID: "req-lost", generationID: &g.ID,
			want: storedUnknown{RequestID: "req-lost", Body: "", BodySize: len(body), Headers: headers, Outcome: store.OutcomeDeletedGeneration},
		},
		{
			name: "an id Easel never had", requestID: "req-stray", generationID: &never,
			want: storedUnknown{RequestID: "req-stray", Body: body, BodySize: len(body), Headers: headers, Outcome: store.OutcomeUnknownGeneration},
		},
	}
	for _, tt := range tests {
		id, outcome, err := store.InsertUnknownGenerationWebhookEvent(b.ctx, b.pool, store.WebhookEvent{
			GenerationID: tt.generationID, FalRequestID: tt.requestID, Headers: headers,
			Body: []byte(body), BodySize: len(body), SignatureValid: true,
		})
		require.NoError(t, err, tt.name)
		require.Positive(t, id, tt.name)
		require.Equal(t, tt.want.Outcome, outcome, tt.name)
		require.Equal(t, tt.want, b.storedUnknown(t, id), tt.name)
	}
}

// The deliveries of a deleted generation's request share the cap of
// unknown ones; past it nothing is stored, and the outcome is still told.
func TestDeletedGenerationWebhookEventCap(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insert(t, "")
	require.True(t, b.complete(t, g.ID, store.Completion{FalRequestID: "req-deleted"}))
	b.deleteGeneration(t, g.ID, false)

	replay := store.WebhookEvent{FalRequestID: "req-deleted", Body: []byte("{}"), BodySize: 2, SignatureValid: true}
	for range store.MaxWebhookEvents {
		id, outcome, err := store.InsertUnknownGenerationWebhookEvent(b.ctx, b.pool, replay)
		require.NoError(t, err)
		require.Positive(t, id)
		require.Equal(t, store.OutcomeDeletedGeneration, outcome)
	}
	id, outcome, err := store.InsertUnknownGenerationWebhookEvent(b.ctx, b.pool, replay)
	require.NoError(t, err)
	require.Zero(t, id, "past the cap")
	require.Equal(t, store.OutcomeDeletedGeneration, outcome)
}
