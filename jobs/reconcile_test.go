package jobs_test

import (
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/logtest"
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
	require.Equal(t, []store.WebhookOutcome{store.OutcomeDeferred}, b.outcomes(t, gen.ID))

	b.reconcile(t)
	require.Equal(t, store.StatusCompleted, b.generation(t, gen.ID).Status)
	require.Len(t, b.images(t, gen.ID), 2)
}

func TestReconcilerRecordsFailedRequest(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{FailRate: 1, WebhookDropRate: 1})
	b.cfg.PollAfter = time.Nanosecond
	logs := &logtest.Buffer{}
	b.cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
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

	// The failure is explained in the log too.
	var logged bool
	for _, entry := range logs.Lines(t, "generation failed at fal") {
		require.Equal(t, gen.ID.String(), entry["generation_id"])
		require.Equal(t, *got.ErrorCode, entry["error_code"])
		require.Equal(t, *got.ErrorMessage, entry["error_message"])
		logged = true
	}
	require.True(t, logged, logs.String())
}

// A generation in flight for longer than EASEL_TIMEOUT is cancelled at fal,
// and its error message says what fal made of the cancel.
func TestReconcilerTimesOutByCancelOutcome(t *testing.T) {
	t.Parallel()
	const timedOut = "fal did not finish within EASEL_TIMEOUT (1ns) of the submission; "
	running := falsim.Config{Latency: falsim.Latency{Min: time.Hour, Max: time.Hour}}

	for _, tt := range []struct {
		name string
		sim  falsim.Config
		// atFal changes fal once the request is submitted.
		atFal       func(t *testing.T, b *testBundle)
		wantStatus  store.Status
		wantMessage *regexp.Regexp // nil: no error message
	}{
		{
			name:        "cancel requested",
			sim:         running,
			atFal:       func(*testing.T, *testBundle) {},
			wantStatus:  store.StatusFailed,
			wantMessage: regexp.MustCompile(`^` + regexp.QuoteMeta(timedOut+"cancelled at fal") + `$`),
		},
		{
			name: "already completed: its result wins",
			sim:  falsim.Config{WebhookDropRate: 1},
			atFal: func(t *testing.T, b *testBundle) {
				b.awaitCompletedAtFal(t, 1)
			},
			wantStatus: store.StatusCompleted,
		},
		{
			name:        "not found: fal restarted and forgot it",
			sim:         running,
			atFal:       restartSim,
			wantStatus:  store.StatusFailed,
			wantMessage: regexp.MustCompile(`^` + regexp.QuoteMeta(timedOut+"fal did not know the request, so nothing was cancelled there") + `$`),
		},
		{
			name:        "cancel call failed: fal unreachable",
			sim:         running,
			atFal:       stopSim,
			wantStatus:  store.StatusFailed,
			wantMessage: regexp.MustCompile(`^` + regexp.QuoteMeta(timedOut+"cancelling it at fal failed: ") + `.*connection refused`),
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.sim)
			gen := b.enqueue(t, "tests")
			require.NoError(t, b.submit(t, gen.ID))
			tt.atFal(t, b)

			b.reconcile(t)
			require.Equal(t, store.StatusSubmitted, b.generation(t, gen.ID).Status, "not before EASEL_TIMEOUT")

			b.cfg.Timeout = time.Nanosecond
			b.reconcile(t)
			got := b.generation(t, gen.ID)
			require.Equal(t, tt.wantStatus, got.Status)
			if tt.wantMessage == nil {
				require.Nil(t, got.ErrorMessage)
				require.Len(t, b.images(t, gen.ID), 2)
				return
			}
			require.Equal(t, "timeout", *got.ErrorCode)
			require.Regexp(t, tt.wantMessage, *got.ErrorMessage)
		})
	}
}

// The cancel reaches fal: the request is cancelled there, not only failed
// in Easel.
func TestReconcilerTimeoutCancelsAtFal(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{Latency: falsim.Latency{Min: time.Hour, Max: time.Hour}})
	b.cfg.Timeout = time.Nanosecond
	gen := b.enqueue(t, "tests")
	require.NoError(t, b.submit(t, gen.ID))

	b.reconcile(t)
	got := b.generation(t, gen.ID)
	require.Equal(t, store.StatusFailed, got.Status)
	require.Equal(t, "client_cancelled", b.falStatus(t, got).ErrorType)
}

func TestReconcilerTimesOutUnconfirmedSubmission(t *testing.T) {
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
	require.Contains(t, *got.ErrorMessage, "fal's answer to 1 submission(s)")
	require.Contains(t, *got.ErrorMessage, "never learnt")
	require.Equal(t, store.StatusQueued, b.generation(t, waiting.ID).Status, "a generation never submitted does not time out")
}

// stopSim stops the simulator, so that nothing listens at its address.
func stopSim(_ *testing.T, b *testBundle) {
	b.sim.Close()
	// A new client, as in restartSim: a request the old one sent on a
	// connection the server has just closed would end in EOF, not in the
	// connection refused of a fal that cannot be reached.
	b.fal = fal.NewClient(fal.ClientConfig{QueueURL: b.sim.QueueURL(), Key: "test-key"})
	b.cfg.Fal = b.fal
}

// restartSim replaces the simulator with a new one on the same address,
// which knows none of the old one's requests, as after a restart of fal's
// side.
func restartSim(t *testing.T, b *testBundle) {
	t.Helper()
	b.sim.Close()
	sim, err := falsim.Start(b.ctx, strings.TrimPrefix(b.sim.URL, "http://"), falsim.Config{})
	require.NoError(t, err)
	t.Cleanup(sim.Close)
	b.sim = sim
	// A new client: the old one may still hold an idle connection to the
	// closed server, and a PUT sent on it ends in EOF, not in fal's answer.
	b.fal = fal.NewClient(fal.ClientConfig{QueueURL: sim.QueueURL(), Key: "test-key"})
	b.cfg.Fal = b.fal
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
	require.Equal(t, []store.WebhookOutcome{store.OutcomeLate}, b.outcomes(t, gen.ID), "the paid result is kept, not applied")
}
