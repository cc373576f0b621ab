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

// After a lost answer the retried job waits PollAfter from the start of the
// lost submission, as the database counts it: the clock that stamped it.
func TestLostAnswerWaitIsCountedFromTheSubmission(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{WebhookDropRate: 1})
	gen := b.enqueue(t, "tests")

	lost := b.cfg
	lost.Fal = b.falLosingAnswers()
	snoozed(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, lost), gen.ID))
	_, err := b.pool.Exec(b.ctx, `UPDATE generations SET submitting_at = submitting_at - interval '40 minutes' WHERE id = $1`, gen.ID)
	require.NoError(t, err)

	d := snoozed(t, b.submit(t, gen.ID))
	require.Greater(t, d, 19*time.Minute)
	require.LessOrEqual(t, d, 20*time.Minute)
	require.Equal(t, 1, b.sim.Sim.Stats().Submissions)
}

// A generation submitted again after a lost answer, and finished by the
// lost submission's result while the new submit call was under way, has the
// new request cancelled at fal, and keeps the request, ids and URLs it
// finished with.
func TestDuplicateRequestIsCancelledAtFal(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{Latency: falsim.Latency{Min: time.Hour, Max: time.Hour}})
	b.cfg.PollAfter = time.Nanosecond // submit again at once
	gen := b.enqueue(t, "tests")

	ids := make(chan string, 1)
	lost := b.cfg
	lost.Fal = fal.NewClient(fal.ClientConfig{QueueURL: b.sim.QueueURL(), Key: "test-key", HTTPClient: &http.Client{Transport: lostAnswerNoting{ids}}})
	snoozed(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, lost), gen.ID))
	first := <-ids

	var second *fal.QueueResponse
	again := b.cfg
	again.Fal = falHook{Fal: b.fal, after: func(resp *fal.QueueResponse) {
		second = resp
		require.Equal(t, store.OutcomeApplied, b.deliverSigned(t, gen.ID, first, okWebhook(first)))
	}}
	require.NoError(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, again), gen.ID))

	got := b.generation(t, gen.ID)
	require.Equal(t, store.StatusCompleted, got.Status)
	require.Len(t, b.images(t, gen.ID), 2)
	require.Equal(t, first, *got.FalRequestID)
	require.Nil(t, got.FalStatusURL, "the second request's URLs are not the first's")
	require.Nil(t, got.FalCancelURL)
	submissions, confirmed := b.accounting(t, gen.ID)
	require.Equal(t, [2]int{2, 1}, [2]int{submissions, confirmed}, "both counted: the second was paid for")

	status, err := b.fal.Status(b.ctx, second.StatusURL)
	require.NoError(t, err)
	require.Equal(t, fal.StatusCompleted, status.Status)
	require.Equal(t, "client_cancelled", status.ErrorType, "nobody needed the second request")
}
