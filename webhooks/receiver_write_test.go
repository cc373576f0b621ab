package webhooks_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// A result finishes the generation and notes its webhook in one write of
// the row: generations has many indexes, and every row version costs each
// of them an entry.
func TestResultIsOneWriteOfTheGeneration(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		body       string
		wantStatus store.Status
		wantImages int
	}{
		{name: "completed", body: okBody, wantStatus: store.StatusCompleted, wantImages: 2},
		{
			name: "failed",
			body: `{"error": "Invalid status code: 500", "gateway_request_id": "req-1", "payload": {"detail": "boom"}, ` +
				`"request_id": "req-1", "status": "ERROR"}`,
			wantStatus: store.StatusFailed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			gen := b.enqueue(t)
			_, err := b.pool.Exec(b.ctx, `
				CREATE TABLE generation_writes (generation_id uuid NOT NULL);
				CREATE FUNCTION count_generation_write() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN
					INSERT INTO generation_writes VALUES (NEW.id);
					RETURN NULL;
				END $$;
				CREATE TRIGGER generations_count_writes AFTER UPDATE ON generations
					FOR EACH ROW EXECUTE FUNCTION count_generation_write();`)
			require.NoError(t, err)

			d := b.deliver(t, "/webhooks/fal/"+gen.ID.String(), []byte(tt.body), b.signed(tt.body))
			require.Equal(t, delivery{status: 200, outcome: store.OutcomeApplied}, d)

			got, images, outcomes := b.generation(t, gen)
			require.Equal(t, tt.wantStatus, got.Status)
			require.Equal(t, "req-1", *got.FalRequestID, "the webhook beat the submit call's record of the request")
			require.NotNil(t, got.LastWebhookAt)
			require.Equal(t, got.FinishedAt, got.LastWebhookAt, "stamped by the transaction that finished it")
			require.Len(t, images, tt.wantImages)
			require.Equal(t, []store.WebhookOutcome{store.OutcomeApplied}, outcomes)

			var writes int
			require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM generation_writes WHERE generation_id = $1`, gen.ID).Scan(&writes))
			require.Equal(t, 1, writes)
		})
	}
}

// A signed delivery whose body is not a fal webhook still counts as the
// generation's webhook, but names no request to record.
func TestMalformedWebhookIsNoted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	gen := b.enqueue(t)

	body := `{"status": "OK"}`
	d := b.deliver(t, "/webhooks/fal/"+gen.ID.String(), []byte(body), b.signed(body))
	require.Equal(t, delivery{status: 400, code: "malformed"}, d)

	got, _, outcomes := b.generation(t, gen)
	require.Equal(t, store.StatusQueued, got.Status)
	require.NotNil(t, got.LastWebhookAt)
	require.Nil(t, got.FalRequestID)
	require.Equal(t, []store.WebhookOutcome{store.OutcomeMalformed}, outcomes)
}
