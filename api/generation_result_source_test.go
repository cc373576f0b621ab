package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// GET /v1/generations/{id} says how the result that finished the
// generation reached Easel: by fal's webhook, or fetched by polling; null
// while unfinished and when no result of fal's finished it. Lists leave
// the field out: it costs a query per generation.
func TestGetGenerationShowsResultSource(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name    string
		arrival string // "webhook" or "poll" completes it with such a result; "timeout" fails it without one; "" leaves it submitted
		want    any
	}{
		{name: "unfinished", want: nil},
		{name: "by webhook", arrival: "webhook", want: "webhook"},
		{name: "by polling", arrival: "poll", want: "poll"},
		{name: "failed without a result", arrival: "timeout", want: nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			g := b.enqueue(t, jsonHeader(), falExampleInput, http.StatusAccepted)
			id := uuid.MustParse(g.ID)
			_, err := store.MarkSubmitting(b.ctx, b.pool, id)
			require.NoError(t, err)
			_, err = store.RecordSubmitted(b.ctx, b.pool, id, store.Submission{RequestID: "req-1"})
			require.NoError(t, err)
			switch tt.arrival {
			case "webhook":
				_, err := store.InsertWebhookEvent(b.ctx, b.pool, store.WebhookEvent{GenerationID: &id, FalRequestID: "req-1",
					Body: []byte("{}"), BodySize: 2, SignatureValid: true, Outcome: store.OutcomeApplied})
				require.NoError(t, err)
			case "poll":
				require.NoError(t, store.InsertPolledResult(b.ctx, b.pool, id, "req-1", "OK", []byte("{}"), store.OutcomeApplied))
			case "timeout":
				_, err := store.Fail(b.ctx, b.pool, id, store.ErrorCodeTimeout, "fal did not finish within EASEL_TIMEOUT")
				require.NoError(t, err)
			}
			if tt.arrival == "webhook" || tt.arrival == "poll" {
				require.NoError(t, pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
					_, err := store.Complete(b.ctx, tx, id, store.Completion{FalRequestID: "req-1"})
					return err
				}))
			}

			for _, path := range []string{"/v1/generations/" + g.ID, "/v1/generations/" + g.ID + "?wait=0s"} {
				resp := b.do(t, http.MethodGet, path, nil, nil)
				require.Equal(t, http.StatusOK, resp.status, string(resp.body))
				var fields map[string]any
				require.NoError(t, json.Unmarshal(resp.body, &fields))
				require.Contains(t, fields, "result_source", "%s: present, null when there is none", path)
				require.Equal(t, tt.want, fields["result_source"], path)
			}

			list := b.do(t, http.MethodGet, "/v1/generations", nil, nil)
			require.Equal(t, http.StatusOK, list.status, string(list.body))
			var page struct {
				Data []map[string]any `json:"data"`
			}
			require.NoError(t, json.Unmarshal(list.body, &page))
			require.Len(t, page.Data, 1)
			require.NotContains(t, page.Data[0], "result_source", "a list does not pay for it")
		})
	}
}
