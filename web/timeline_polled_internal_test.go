package web

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// A result Easel fetched from fal's queue, rather than received by
// webhook, says so in the timeline, and why it came late: no webhook in
// time, or one without the result. A webhook that came after it shows
// fal's webhook was late, not lost. A result fetched again once the
// generation had finished is no entry.
func TestTimelinePolledResult(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	submitting, submitted := created.Add(time.Millisecond), created.Add(300*time.Millisecond)
	fetched := submitted.Add(2*time.Minute + 5*time.Second)
	request := "req-1"
	g := &store.Generation{
		Status: store.StatusCompleted, CreatedAt: created, SubmittingAt: &submitting, SubmittedAt: &submitted,
		FinishedAt: &fetched, CompletedAt: &fetched, FalRequestID: &request, Attempts: 1, FalSubmissions: 1, FalSubmissionsConfirmed: 1,
	}
	webhook := func(at time.Time, outcome store.WebhookOutcome) store.ReceivedWebhook {
		return store.ReceivedWebhook{ReceivedAt: at, FalRequestID: request, BodySize: 2, SignatureValid: true, Outcome: outcome}
	}
	applied := store.PolledResult{FalRequestID: request, FetchedAt: fetched, Status: "OK", Outcome: store.OutcomeApplied}
	const polledTitle = "Result fetched from fal by polling"

	for _, tt := range []struct {
		name       string
		webhooks   []store.ReceivedWebhook
		polled     []store.PolledResult
		wantTitles []string
		wantDetail string // of the polled entry; "" for none
	}{
		{
			name:       "no webhook",
			polled:     []store.PolledResult{applied},
			wantTitles: []string{"Enqueued", "Submitting to fal", "Submitted to fal", polledTitle, "Completed"},
			wantDetail: "no webhook within EASEL_POLL_AFTER",
		},
		{
			name:       "webhook late",
			webhooks:   []store.ReceivedWebhook{webhook(fetched.Add(3*time.Second), store.OutcomeDuplicate)},
			polled:     []store.PolledResult{applied},
			wantTitles: []string{"Enqueued", "Submitting to fal", "Submitted to fal", polledTitle, "Completed", "Webhook received"},
			wantDetail: "no webhook within EASEL_POLL_AFTER; fal's webhook came after it: late, not lost",
		},
		{
			name:       "webhook without the result",
			webhooks:   []store.ReceivedWebhook{webhook(submitted.Add(time.Second), store.OutcomeDeferred)},
			polled:     []store.PolledResult{applied},
			wantTitles: []string{"Enqueued", "Submitting to fal", "Submitted to fal", "Webhook received", polledTitle, "Completed"},
			wantDetail: "fal's webhook carried no result",
		},
		{
			name:       "by webhook, fetched again",
			webhooks:   []store.ReceivedWebhook{webhook(submitted.Add(time.Second), store.OutcomeApplied)},
			polled:     []store.PolledResult{{FalRequestID: request, FetchedAt: fetched.Add(time.Second), Status: "OK", Outcome: store.OutcomeDuplicate}},
			wantTitles: []string{"Enqueued", "Submitting to fal", "Submitted to fal", "Webhook received", "Completed"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var titles []string
			detail := ""
			for _, e := range buildTimeline(g, tt.webhooks, tt.polled...) {
				titles = append(titles, e.Title)
				if e.Title == polledTitle {
					detail = e.Detail
					require.Equal(t, fetched, e.At)
				}
			}
			require.Equal(t, tt.wantTitles, titles)
			require.Equal(t, tt.wantDetail, detail)
		})
	}
}
