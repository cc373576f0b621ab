package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// Only the result that finished the generation names its source: a
// webhook or polled result that came second (duplicate), or after Easel
// had ended the generation (late), or that carried no result (deferred),
// does not.
func TestGetResultOrigin(t *testing.T) {
	t.Parallel()
	b := setup(t)

	type arrival struct {
		polled  bool // else a webhook
		outcome store.WebhookOutcome
	}
	for _, tt := range []struct {
		name     string
		arrivals []arrival
		want     store.ResultSource // "": none
	}{
		{name: "nothing yet"},
		{name: "webhook", arrivals: []arrival{{outcome: store.OutcomeApplied}}, want: store.ResultSourceWebhook},
		{name: "polled", arrivals: []arrival{{polled: true, outcome: store.OutcomeApplied}}, want: store.ResultSourcePoll},
		{
			name:     "polled, its webhook late",
			arrivals: []arrival{{polled: true, outcome: store.OutcomeApplied}, {outcome: store.OutcomeDuplicate}},
			want:     store.ResultSourcePoll,
		},
		{
			name:     "webhook without a result, then polled",
			arrivals: []arrival{{outcome: store.OutcomeDeferred}, {polled: true, outcome: store.OutcomeApplied}},
			want:     store.ResultSourcePoll,
		},
		{
			name:     "webhook, then polled again",
			arrivals: []arrival{{outcome: store.OutcomeApplied}, {polled: true, outcome: store.OutcomeDuplicate}},
			want:     store.ResultSourceWebhook,
		},
		{
			name:     "after Easel ended it",
			arrivals: []arrival{{polled: true, outcome: store.OutcomeLate}, {outcome: store.OutcomeLate}},
		},
		{name: "refused webhook", arrivals: []arrival{{outcome: store.OutcomeBadSignature}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := b.insert(t, "")
			for _, a := range tt.arrivals {
				if a.polled {
					require.NoError(t, store.InsertPolledResult(b.ctx, b.pool, g.ID, "req-1", "OK", []byte(`{"images": []}`), a.outcome))
					continue
				}
				_, err := store.InsertWebhookEvent(b.ctx, b.pool, store.WebhookEvent{GenerationID: &g.ID, FalRequestID: "req-1",
					Body: []byte("{}"), BodySize: 2, SignatureValid: a.outcome != store.OutcomeBadSignature, Outcome: a.outcome})
				require.NoError(t, err)
			}

			got, err := store.GetResultOrigin(b.ctx, b.pool, g.ID)
			require.NoError(t, err)
			if tt.want == "" {
				require.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			require.Equal(t, tt.want, got.Source)
			var at time.Time
			require.NoError(t, b.pool.QueryRow(b.ctx, `
				SELECT fetched_at FROM polled_results WHERE generation_id = $1 AND outcome = 'applied'
				UNION ALL SELECT received_at FROM webhook_events WHERE generation_id = $1 AND outcome = 'applied'`, g.ID).Scan(&at))
			require.True(t, at.Equal(got.At), "when the applied one arrived: %s, not %s", at, got.At)
		})
	}
}
