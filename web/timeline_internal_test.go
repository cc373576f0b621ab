package web

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// When fal's webhook beats its answer to the submit, submitted_at stays
// null; the timeline still shows the submission, at the call's start.
func TestTimelineSubmittedWhenTheResultCameFirst(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	submitting, finished := created.Add(time.Millisecond), created.Add(40*time.Millisecond)
	request := "req-1"
	for _, tt := range []struct {
		name      string
		confirmed int
		want      []string
	}{
		{name: "answer recorded after the result", confirmed: 1, want: []string{"Enqueued", "Submitting to fal", "Submitted to fal", "Completed"}},
		{name: "no answer ever recorded", confirmed: 0, want: []string{"Enqueued", "Submitting to fal", "Completed"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := &store.Generation{
				Status: store.StatusCompleted, CreatedAt: created, SubmittingAt: &submitting, FinishedAt: &finished, CompletedAt: &finished,
				FalRequestID: &request, Attempts: 1, FalSubmissions: 1, FalSubmissionsConfirmed: tt.confirmed,
			}
			var titles []string
			for _, e := range buildTimeline(g, nil) {
				titles = append(titles, e.Title)
			}
			require.Equal(t, tt.want, titles)
		})
	}
}
