package web_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// A generation whose result Easel fetched from fal's queue says so in its
// timeline, and a webhook that came after it shows the webhook was late.
func TestDetailShowsPolledResult(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insert(t, "late webhook")
	_, err := store.MarkSubmitting(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	requestID := "req-" + g.ID.String()[:8]
	_, err = store.RecordSubmitted(b.ctx, b.pool, g.ID, store.Submission{RequestID: requestID})
	require.NoError(t, err)
	require.NoError(t, store.InsertPolledResult(b.ctx, b.pool, g.ID, requestID, "OK", []byte(`{"images": []}`), store.OutcomeApplied))
	b.complete(t, g.ID, store.Image{URL: "https://cdn.example/0.png"})
	_, err = store.InsertWebhookEvent(b.ctx, b.pool, store.WebhookEvent{GenerationID: &g.ID, FalRequestID: requestID,
		Body: []byte("{}"), BodySize: 2, SignatureValid: true, Outcome: store.OutcomeDuplicate})
	require.NoError(t, err)

	body := b.page(t, "/generations/"+g.ID.String()).body
	require.Contains(t, body, "<strong>Result fetched from fal by polling</strong> "+
		"<span>no webhook within EASEL_POLL_AFTER; fal&#39;s webhook came after it: late, not lost</span>")
	titles := regexp.MustCompile(`</time>\s*<strong>([^<]+)</strong>`).FindAllStringSubmatch(body, -1)
	var got []string
	for _, m := range titles {
		if m[1] != "Status from fal" { // recorded at submission or not, depending on the version of the submit
			got = append(got, m[1])
		}
	}
	require.Equal(t, []string{"Enqueued", "Submitting to fal", "Submitted to fal", "Result fetched from fal by polling", "Completed", "Webhook received"}, got)
}

// A submitted generation's page carries what fal last said, and its state
// the same, so that its script reloads when that changes.
func TestDetailStateCarriesFalStatus(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insert(t, "queued at fal")
	_, err := store.MarkSubmitting(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	requestID := "req-" + g.ID.String()[:8]
	_, err = store.RecordSubmitted(b.ctx, b.pool, g.ID, store.Submission{RequestID: requestID})
	require.NoError(t, err)

	state := func() map[string]any {
		req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, b.url+"/generations/"+g.ID.String()+"/state", nil)
		require.NoError(t, err)
		resp := b.do(t, req)
		require.Equal(t, http.StatusOK, resp.status, resp.body)
		var s map[string]any
		require.NoError(t, json.Unmarshal([]byte(resp.body), &s))
		return s
	}
	position := 3
	for _, tt := range []struct {
		status            string
		position          *int
		wantAttr          string
		wantStatePosition any
	}{
		{status: "IN_QUEUE", position: &position, wantAttr: `data-fal-status="IN_QUEUE" data-fal-queue-position="3"`, wantStatePosition: float64(3)},
		{status: "IN_PROGRESS", wantAttr: `data-fal-status="IN_PROGRESS" data-fal-queue-position=""`},
	} {
		written, err := store.RecordFalStatus(b.ctx, b.pool, g.ID, requestID, tt.status, tt.position)
		require.NoError(t, err)
		require.True(t, written)
		require.Contains(t, b.page(t, "/generations/"+g.ID.String()).body, tt.wantAttr)
		s := state()
		require.Equal(t, tt.status, s["fal_status"])
		require.Contains(t, s, "fal_queue_position")
		require.Equal(t, tt.wantStatePosition, s["fal_queue_position"])
	}
}
