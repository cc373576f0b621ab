package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

func TestSubmitGeneration(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{})
	gen := b.enqueue(t, "tests")

	require.NoError(t, b.submit(t, gen.ID))
	got := b.generation(t, gen.ID)
	require.Equal(t, 1, got.Attempts)
	require.NotNil(t, got.FalRequestID)
	submissions, confirmed := b.accounting(t, gen.ID)
	require.Equal(t, [2]int{1, 1}, [2]int{submissions, confirmed})

	b.awaitDelivery(t)
	got = b.generation(t, gen.ID)
	require.Equal(t, store.StatusCompleted, got.Status)
	require.Len(t, b.images(t, gen.ID), 2)

	require.NoError(t, b.submit(t, gen.ID), "a second run of the job submits nothing")
	require.Equal(t, 1, b.sim.Sim.Stats().Submissions)
}

// Each class of submit error is retried or fails the generation, and the
// attempt and the error are recorded either way.
func TestSubmitErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		sim  falsim.Config
		// fal replaces the simulator's client.
		fal func(t *testing.T, b *testBundle) jobs.Fal
		// input, when set, is stored as is, bypassing Enqueue's validation.
		input string

		wantSnoozeMin, wantSnoozeMax time.Duration // zero: not snoozed
		wantStatus                   store.Status
		wantCode, wantMessage        string
		wantSubmissions              int // fal_submissions: fal may have accepted
	}{
		{
			name:          "5xx is retried with backoff",
			sim:           falsim.Config{SubmitErrorRate: 1},
			wantSnoozeMin: 500 * time.Millisecond, wantSnoozeMax: 600 * time.Millisecond,
			wantStatus: store.StatusQueued, wantCode: "fal_unavailable", wantMessage: "HTTP 5",
		},
		{
			name:          "429 honours Retry-After",
			sim:           falsim.Config{RateLimitRate: 1},
			wantSnoozeMin: time.Second, wantSnoozeMax: time.Second,
			wantStatus: store.StatusQueued, wantCode: "fal_rate_limited", wantMessage: "HTTP 429",
		},
		{
			name: "network error is retried with backoff",
			fal: func(t *testing.T, _ *testBundle) jobs.Fal {
				return fal.NewClient(fal.ClientConfig{QueueURL: closedURL(t), Key: "k"})
			},
			wantSnoozeMin: 500 * time.Millisecond, wantSnoozeMax: 600 * time.Millisecond,
			wantStatus: store.StatusQueued, wantCode: "fal_unreachable", wantMessage: "connection refused",
		},
		{
			name: "401 fails with an operator-facing error",
			fal: func(t *testing.T, b *testBundle) jobs.Fal {
				return fal.NewClient(fal.ClientConfig{QueueURL: b.sim.QueueURL()}) // no key
			},
			wantStatus: store.StatusFailed, wantCode: "fal_auth", wantMessage: "check FAL_KEY",
		},
		{
			name:       "other 4xx fails with fal's detail",
			input:      `["not", "an", "object"]`,
			wantStatus: store.StatusFailed, wantCode: "fal_rejected", wantMessage: "Input should be a valid dictionary",
		},
		{
			name: "an answer lost after sending waits for the webhook",
			sim:  falsim.Config{Latency: falsim.Latency{Min: time.Hour, Max: time.Hour}},
			fal: func(_ *testing.T, b *testBundle) jobs.Fal {
				return b.falLosingAnswers()
			},
			wantSnoozeMin: time.Hour, wantSnoozeMax: time.Hour, // PollAfter
			wantStatus: store.StatusQueued, wantCode: "fal_unreachable", wantMessage: "unexpected EOF",
			wantSubmissions: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.sim)
			if tt.fal != nil {
				b.cfg.Fal = tt.fal(t, b)
			}
			var id uuid.UUID
			if tt.input != "" {
				gen, err := store.InsertGeneration(b.ctx, b.pool, store.InsertGenerationParams{
					ID: uuid.New(), Client: "tests", EndpointID: fal.EndpointImagePrompt, Input: json.RawMessage(tt.input), Priority: 2,
				})
				require.NoError(t, err)
				id = gen.ID
			} else {
				id = b.enqueue(t, "tests").ID
			}

			err := b.submit(t, id)
			if tt.wantSnoozeMax > 0 {
				d := snoozed(t, err)
				require.GreaterOrEqual(t, d, tt.wantSnoozeMin)
				require.LessOrEqual(t, d, tt.wantSnoozeMax)
			} else {
				require.NoError(t, err)
			}

			got := b.generation(t, id)
			require.Equal(t, tt.wantStatus, got.Status)
			require.Equal(t, 1, got.Attempts)
			require.Equal(t, tt.wantCode, *got.ErrorCode)
			require.Contains(t, *got.ErrorMessage, tt.wantMessage)
			require.NotContains(t, *got.ErrorMessage, "test-key", "the fal key never appears in errors")
			submissions, confirmed := b.accounting(t, id)
			require.Equal(t, tt.wantSubmissions, submissions)
			require.Zero(t, confirmed)
		})
	}
}

func TestSubmitGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{SubmitErrorRate: 1})
	gen := b.enqueue(t, "tests")
	_, err := b.pool.Exec(b.ctx, `UPDATE generations SET attempts = 19 WHERE id = $1`, gen.ID)
	require.NoError(t, err)

	require.NoError(t, b.submit(t, gen.ID))
	got := b.generation(t, gen.ID)
	require.Equal(t, store.StatusFailed, got.Status)
	require.Equal(t, 20, got.Attempts)
	require.Equal(t, "fal_unavailable", *got.ErrorCode, "the last error is kept")
}

// fal accepted a request but its answer was lost (a worker killed at that
// moment is the same case): the webhook, whose URL names the generation,
// finishes it, and the retried job pays nothing more.
func TestLostAnswerIsNotPaidTwice(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{})
	gen := b.enqueue(t, "tests")

	lost := b.cfg
	lost.Fal = b.falLosingAnswers()
	snoozed(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, lost), gen.ID))
	b.awaitDelivery(t)
	require.Equal(t, store.StatusCompleted, b.generation(t, gen.ID).Status)

	require.NoError(t, b.submit(t, gen.ID))
	submissions, confirmed := b.accounting(t, gen.ID)
	require.Equal(t, [2]int{1, 0}, [2]int{submissions, confirmed}, "one submission, never confirmed")
	stats := b.sim.Sim.Stats()
	require.Equal(t, 1, stats.Submissions)
	require.Zero(t, stats.DuplicateSubmissions)
}

// When no webhook comes for a submission whose answer was lost, the
// generation is submitted again after PollAfter, and the extra request is
// visible: fal_submissions 2, one confirmed.
func TestLostAnswerWithoutWebhookIsSubmittedAgain(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{WebhookDropRate: 1})
	b.cfg.PollAfter = time.Nanosecond
	gen := b.enqueue(t, "tests")

	lost := b.cfg
	lost.Fal = b.falLosingAnswers()
	snoozed(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, lost), gen.ID))
	require.NoError(t, b.submit(t, gen.ID))

	got := b.generation(t, gen.ID)
	require.Equal(t, store.StatusSubmitted, got.Status)
	require.Equal(t, 2, got.Attempts)
	submissions, confirmed := b.accounting(t, gen.ID)
	require.Equal(t, [2]int{2, 1}, [2]int{submissions, confirmed})
	stats := b.sim.Sim.Stats()
	require.Equal(t, 2, stats.Submissions)
	require.Equal(t, 1, stats.DuplicateSubmissions)
}

// A webhook that could not be applied (payload_error) still names fal's
// request: the retried job adopts it, once fal confirms it, instead of
// submitting again, and the reconciler fetches the result.
func TestRequestRevealedByWebhookIsAdopted(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{PayloadErrorRate: 1})
	gen := b.enqueue(t, "tests")

	lost := b.cfg
	lost.Fal = b.falLosingAnswers()
	snoozed(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, lost), gen.ID))
	b.awaitDelivery(t)
	require.Equal(t, []store.WebhookOutcome{store.OutcomeDeferred}, b.outcomes(t, gen.ID))
	got := b.generation(t, gen.ID)
	require.Equal(t, store.StatusQueued, got.Status)
	require.NotNil(t, got.FalRequestID)

	require.NoError(t, b.submit(t, gen.ID))
	adopted := b.generation(t, gen.ID)
	require.Equal(t, store.StatusSubmitted, adopted.Status)
	require.Equal(t, got.FalRequestID, adopted.FalRequestID)
	require.Equal(t, 1, b.sim.Sim.Stats().Submissions)
	submissions, confirmed := b.accounting(t, gen.ID)
	require.Equal(t, [2]int{1, 1}, [2]int{submissions, confirmed}, "fal confirmed the request when asked")

	b.reconcile(t)
	require.Equal(t, store.StatusCompleted, b.generation(t, gen.ID).Status)
	require.Len(t, b.images(t, gen.ID), 2)
}

// falHook runs a function after each successful submit, before the worker
// sees fal's answer.
type falHook struct {
	jobs.Fal
	after func(resp *fal.QueueResponse)
}

func (f falHook) Submit(ctx context.Context, req fal.SubmitRequest) (*fal.QueueResponse, error) {
	resp, err := f.Fal.Submit(ctx, req)
	if err == nil {
		f.after(resp)
	}
	return resp, err
}

// The webhook arrives before the submit call returns: it is applied, and the
// submit's own record then changes nothing but the accounting.
func TestWebhookBeforeSubmitReturns(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{})
	gen := b.enqueue(t, "tests")

	early := b.cfg
	early.Fal = falHook{Fal: b.fal, after: func(*fal.QueueResponse) { b.awaitDelivery(t) }}
	require.NoError(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, early), gen.ID))

	got := b.generation(t, gen.ID)
	require.Equal(t, store.StatusCompleted, got.Status)
	require.Nil(t, got.SubmittedAt, "fal's acceptance was recorded only after the generation finished")
	require.NotNil(t, got.FalStatusURL)
	require.Nil(t, got.ErrorCode)
	require.Len(t, b.images(t, gen.ID), 2)
	require.Equal(t, []store.WebhookOutcome{store.OutcomeApplied}, b.outcomes(t, gen.ID))
	submissions, confirmed := b.accounting(t, gen.ID)
	require.Equal(t, [2]int{1, 1}, [2]int{submissions, confirmed})
}

// A generation cancelled while its submit call is under way is cancelled at
// fal as soon as fal's answer names the request.
func TestCancelledDuringSubmitIsCancelledAtFal(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{Latency: falsim.Latency{Min: time.Hour, Max: time.Hour}})
	gen := b.enqueue(t, "tests")
	canceller := b.canceller(t)

	during := b.cfg
	during.Fal = falHook{Fal: b.fal, after: func(*fal.QueueResponse) {
		cancelled, err := canceller.Cancel(b.ctx, gen.ID)
		require.NoError(t, err)
		require.Equal(t, store.StatusCancelled, cancelled.Status)
	}}
	require.NoError(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, during), gen.ID))

	got := b.generation(t, gen.ID)
	require.Equal(t, store.StatusCancelled, got.Status)
	require.Contains(t, *got.ErrorMessage, "under way")
	status := b.falStatus(t, got)
	require.Equal(t, fal.StatusCompleted, status.Status)
	require.Equal(t, "client_cancelled", status.ErrorType)
}

// The cancel of a request nobody wants is written down before it is sent:
// when fal does not answer it, it stays pending in fal_request_cancels for
// the reconciler; when fal does, or refuses it, the row keeps the answer.
func TestCancelledDuringSubmitIsWrittenDown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		cancelErr  error
		wantQueued bool
		wantAnswer store.FalCancelAnswer
	}{
		{name: "fal answers the cancel", wantAnswer: store.FalCancelRequested},
		{name: "fal refuses the cancel", cancelErr: &fal.APIError{Op: "cancel", StatusCode: http.StatusForbidden}, wantAnswer: store.FalCancelRefused},
		{name: "fal does not answer the cancel", cancelErr: errors.New("connection refused"), wantQueued: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, falsim.Config{Latency: falsim.Latency{Min: time.Hour, Max: time.Hour}})
			gen := b.enqueue(t, "tests")
			canceller := b.canceller(t)

			var requestID string
			during := b.cfg
			during.Fal = falCancelFails{Fal: falHook{Fal: b.fal, after: func(resp *fal.QueueResponse) {
				requestID = resp.RequestID
				_, err := canceller.Cancel(b.ctx, gen.ID)
				require.NoError(t, err)
			}}, err: tt.cancelErr}
			require.NoError(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, during), gen.ID))

			if tt.wantQueued {
				require.Equal(t, map[string]store.FalCancelReason{requestID: store.FalCancelSuperseded}, b.pendingCancels(t, gen.ID))
				require.Empty(t, b.cancelAnswers(t, gen.ID))
				return
			}
			require.Empty(t, b.pendingCancels(t, gen.ID))
			require.Equal(t, map[string]store.FalCancelAnswer{requestID: tt.wantAnswer}, b.cancelAnswers(t, gen.ID))
		})
	}
}

// falCancelFails answers every cancel with err, when set.
type falCancelFails struct {
	jobs.Fal
	err error
}

func (f falCancelFails) Cancel(ctx context.Context, cancelURL string) (fal.CancelOutcome, error) {
	if f.err != nil {
		return "", f.err
	}
	return f.Fal.Cancel(ctx, cancelURL)
}

// falBeforeSubmit runs a function before each submit is sent.
type falBeforeSubmit struct {
	jobs.Fal
	before func(ctx context.Context)
}

func (f falBeforeSubmit) Submit(ctx context.Context, req fal.SubmitRequest) (*fal.QueueResponse, error) {
	f.before(ctx)
	return f.Fal.Submit(ctx, req)
}

// A submission that fal refuses is taken off the count even when the
// generation was cancelled while the call was under way: fal_submissions
// counts what fal may bill, and a refusal proves fal queued nothing.
func TestRefusedSubmissionOfCancelledGenerationIsUncounted(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{})
	gen := b.enqueue(t, "tests")
	canceller := b.canceller(t)

	cfg := b.cfg
	cfg.Fal = falBeforeSubmit{
		Fal: fal.NewClient(fal.ClientConfig{QueueURL: closedURL(t), Key: "test-key"}), // no connection: nothing sent
		before: func(ctx context.Context) {
			cancelled, err := canceller.Cancel(ctx, gen.ID)
			require.NoError(t, err)
			require.Equal(t, store.StatusCancelled, cancelled.Status)
		},
	}
	snoozed(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, cfg), gen.ID))

	got := b.generation(t, gen.ID)
	require.Equal(t, store.StatusCancelled, got.Status)
	require.Equal(t, store.ErrorCodeCancelled, *got.ErrorCode, "the cancel's note is kept")
	require.Equal(t, "cancelled while its submission to fal was under way", *got.ErrorMessage)
	require.Zero(t, b.sim.Sim.Stats().Submissions)
	submissions, confirmed := b.accounting(t, gen.ID)
	require.Equal(t, [2]int{0, 0}, [2]int{submissions, confirmed}, "nothing fal may bill")
}
