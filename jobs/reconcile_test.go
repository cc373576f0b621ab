package jobs_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/metricstest"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/metrics"
	"github.com/easelhq/easel/store"
)

func TestReconcilerCompletesWhenWebhookIsLost(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{WebhookDropRate: 1})
	gen := b.enqueue(t, "tests")
	require.NoError(t, b.submit(t, gen.ID))
	b.awaitCompletedAtFal(t, 1)

	b.reconcile(t)
	require.Equal(t, store.StatusSubmitted, b.generation(t, gen.ID).Status, "not asked before EASEL_POLL_AFTER")

	b.cfg.PollAfter = time.Nanosecond
	b.reconcile(t)
	got := b.generation(t, gen.ID)
	require.Equal(t, store.StatusCompleted, got.Status)
	require.Len(t, b.images(t, gen.ID), 2)
	require.Empty(t, b.outcomes(t, gen.ID), "no webhook ever came")

	b.reconcile(t)
	require.Len(t, b.images(t, gen.ID), 2, "a finished generation is not polled again")
}

// A generation the reconciler completes counts in the time-to-complete
// histogram, as one a webhook completes does; a failed one does not.
func TestReconcilerObservesTimeToComplete(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name      string
		sim       falsim.Config
		wantCount float64
	}{
		{name: "completed", sim: falsim.Config{WebhookDropRate: 1}, wantCount: 1},
		{name: "failed", sim: falsim.Config{FailRate: 1, WebhookDropRate: 1}, wantCount: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.sim)
			m := metrics.New(b.pool, metrics.Config{Logger: b.cfg.Logger})
			b.cfg.Metrics, b.cfg.PollAfter = m, time.Nanosecond
			gen := b.enqueue(t, "tests")
			require.NoError(t, b.submit(t, gen.ID))
			b.awaitCompletedAtFal(t, 1)

			b.reconcile(t)
			require.True(t, b.generation(t, gen.ID).Status.Terminal())
			require.Equal(t, tt.wantCount, metricstest.Scrape(t, m.Handler())["easel_generation_time_to_complete_seconds_count"])
		})
	}
}

// A payload_error webhook carries no output; the reconciler fetches it
// without waiting for EASEL_POLL_AFTER.
func TestReconcilerFetchesPayloadErrorResult(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{PayloadErrorRate: 1})
	gen := b.enqueue(t, "tests")
	require.NoError(t, b.submit(t, gen.ID))
	b.awaitDelivery(t)
	require.Equal(t, []string{store.OutcomeDeferred}, b.outcomes(t, gen.ID))

	b.reconcile(t)
	require.Equal(t, store.StatusCompleted, b.generation(t, gen.ID).Status)
	require.Len(t, b.images(t, gen.ID), 2)
}

func TestReconcilerRecordsFailedRequest(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{FailRate: 1, WebhookDropRate: 1})
	b.cfg.PollAfter = time.Nanosecond
	gen := b.enqueue(t, "tests")
	require.NoError(t, b.submit(t, gen.ID))
	b.awaitCompletedAtFal(t, 1)

	b.reconcile(t)
	got := b.generation(t, gen.ID)
	require.Equal(t, store.StatusFailed, got.Status)
	require.Contains(t, []string{"image_load_error", "no_media_generated", "content_policy_violation"}, *got.ErrorCode,
		"the code a webhook would have given: the first validation error's type")
	require.NotEmpty(t, *got.ErrorMessage)
	require.Empty(t, b.images(t, gen.ID))
}

func TestReconcilerTimesOut(t *testing.T) {
	t.Parallel()

	t.Run("running at fal: cancelled there and failed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, falsim.Config{Latency: falsim.Latency{Min: time.Hour, Max: time.Hour}})
		gen := b.enqueue(t, "tests")
		require.NoError(t, b.submit(t, gen.ID))

		b.reconcile(t)
		require.Equal(t, store.StatusSubmitted, b.generation(t, gen.ID).Status, "not before EASEL_TIMEOUT")

		b.cfg.Timeout = time.Nanosecond
		b.reconcile(t)
		got := b.generation(t, gen.ID)
		require.Equal(t, store.StatusFailed, got.Status)
		require.Equal(t, "timeout", *got.ErrorCode)
		require.Contains(t, *got.ErrorMessage, "cancelled at fal")
		require.Equal(t, "client_cancelled", b.falStatus(t, got).ErrorType)
	})

	t.Run("completed at fal: its result wins", func(t *testing.T) {
		t.Parallel()
		b := setup(t, falsim.Config{WebhookDropRate: 1})
		b.cfg.Timeout = time.Nanosecond
		gen := b.enqueue(t, "tests")
		require.NoError(t, b.submit(t, gen.ID))
		b.awaitCompletedAtFal(t, 1)

		b.reconcile(t)
		require.Equal(t, store.StatusCompleted, b.generation(t, gen.ID).Status)
		require.Len(t, b.images(t, gen.ID), 2)
	})

	t.Run("submission never confirmed: failed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, falsim.Config{})
		b.cfg.Timeout = time.Nanosecond
		orphan := b.enqueue(t, "tests")
		_, err := store.MarkSubmitting(b.ctx, b.pool, orphan.ID) // and the worker died
		require.NoError(t, err)
		waiting := b.enqueue(t, "tests")

		b.reconcile(t)
		got := b.generation(t, orphan.ID)
		require.Equal(t, store.StatusFailed, got.Status)
		require.Equal(t, "timeout", *got.ErrorCode)
		require.Contains(t, *got.ErrorMessage, "never learnt")
		require.Equal(t, store.StatusQueued, b.generation(t, waiting.ID).Status, "a generation never submitted does not time out")
	})
}

// A result that arrives after the generation timed out is kept as a late
// event and changes nothing.
func TestResultAfterTimeoutIsLate(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{})
	b.cfg.Timeout = time.Nanosecond
	gen := b.enqueue(t, "tests")

	b.holdWebhooks.Lock()
	lost := b.cfg
	lost.Fal = b.falLosingAnswers()
	snoozed(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, lost), gen.ID))
	b.reconcile(t) // no request id: failed, nothing to cancel
	require.Equal(t, "timeout", *b.generation(t, gen.ID).ErrorCode)
	b.holdWebhooks.Unlock()

	b.awaitDelivery(t)
	got := b.generation(t, gen.ID)
	require.Equal(t, store.StatusFailed, got.Status)
	require.Equal(t, "timeout", *got.ErrorCode)
	require.Empty(t, b.images(t, gen.ID))
	require.Equal(t, []string{store.OutcomeLate}, b.outcomes(t, gen.ID), "the paid result is kept, not applied")
}
