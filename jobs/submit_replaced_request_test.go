package jobs_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

// A submission whose answer was lost (A) finishes while the generation is
// submitted again (B), and its webhook, carrying no result
// (payload_error), names A on the still-queued row before B's answer is
// recorded. Recording B must not lose A: A was run and billed, and holds
// the generation's result. fal is asked about A; a result is applied, and
// B, which nobody needs any more, is cancelled; a request with no result
// yet is cancelled itself, and B stays the generation's.
func TestSubmissionReplacingANamedRequestKeepsIt(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		// sim makes A and B run as the case needs.
		sim falsim.Config
		// aFinished says whether A has completed at fal when B is recorded.
		aFinished bool
	}{
		{
			// With this seed the simulator draws 285ms for its first
			// request's run and 9h45m for its second's (falsim.Config.Seed:
			// each submission's draws are fixed by seed and number); the
			// test checks both.
			name:      "A completed: its result applied, B cancelled",
			sim:       falsim.Config{Seed: 8294, Latency: falsim.Latency{Max: 10 * time.Hour}, WebhookDropRate: 1},
			aFinished: true,
		},
		{
			name: "A still running: A cancelled, B kept",
			sim:  falsim.Config{Latency: falsim.Latency{Min: time.Hour, Max: time.Hour}, WebhookDropRate: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.sim)
			b.cfg.PollAfter = time.Nanosecond // A's webhook is late: submit again at once
			gen := b.enqueue(t, "tests")

			ids := make(chan string, 1)
			lost := b.cfg
			lost.Fal = fal.NewClient(fal.ClientConfig{QueueURL: b.sim.QueueURL(), Key: "test-key",
				HTTPClient: &http.Client{Transport: lostAnswerNoting{ids}}})
			snoozed(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, lost), gen.ID))
			a := receive(t, ids)
			if tt.aFinished {
				b.awaitCompletedAtFal(t, 1)
			}

			var second *fal.QueueResponse
			again := b.cfg
			again.Fal = falHook{Fal: b.fal, after: func(resp *fal.QueueResponse) {
				// B's submit is under way when A's webhook comes.
				second = resp
				require.Equal(t, store.OutcomeDeferred, b.deliverSigned(t, gen.ID, a, deferredWebhook(a)))
				require.Equal(t, a, *b.generation(t, gen.ID).FalRequestID, "A named on the queued row")
			}}
			require.NoError(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, again), gen.ID))
			require.NotNil(t, second)
			statusB, err := b.fal.Status(b.ctx, second.StatusURL)
			require.NoError(t, err)
			require.NotEqual(t, fal.StatusCompleted, statusB.Status, "B still runs at fal")

			got := b.generation(t, gen.ID)
			submissions, confirmed := b.accounting(t, gen.ID)
			require.Equal(t, [2]int{2, 1}, [2]int{submissions, confirmed}, "both counted: both were paid for")
			if tt.aFinished {
				require.Equal(t, store.StatusCompleted, got.Status)
				require.Equal(t, a, *got.FalRequestID, "completed with A's result")
				require.Len(t, b.images(t, gen.ID), 2)
				require.Equal(t, map[string]store.FalCancelReason{second.RequestID: store.FalCancelSuperseded}, b.pendingCancels(t, gen.ID),
					"B queued to be cancelled; A's cancel taken back")

				b.reconcile(t)
				statusB, err = b.fal.Status(b.ctx, second.StatusURL)
				require.NoError(t, err)
				require.Equal(t, [2]string{fal.StatusCompleted, "client_cancelled"}, [2]string{statusB.Status, statusB.ErrorType},
					"nobody needs B")
				require.Equal(t, map[string]store.FalCancelAnswer{second.RequestID: store.FalCancelRequested}, b.cancelAnswers(t, gen.ID))
				return
			}

			require.Equal(t, store.StatusSubmitted, got.Status)
			require.Equal(t, second.RequestID, *got.FalRequestID, "B is the generation's")
			require.Empty(t, b.pendingCancels(t, gen.ID))
			require.Equal(t, map[string]store.FalCancelAnswer{a: store.FalCancelRequested}, b.cancelAnswers(t, gen.ID),
				"A is named, with fal's answer to its cancel")
			statusURLA, _, _ := b.fal.RequestURLs(gen.EndpointID, a)
			statusA, err := b.fal.Status(b.ctx, statusURLA)
			require.NoError(t, err)
			require.Equal(t, "client_cancelled", statusA.ErrorType)
		})
	}
}
