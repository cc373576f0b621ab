package jobs_test

import (
	"context"
	"fmt"
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

// running keeps every request IN_PROGRESS for the test's duration.
var running = falsim.Config{Latency: falsim.Latency{Min: time.Hour, Max: time.Hour}}

// A queued generation is cancelled without fal, its message saying what
// fal may hold of it; its River job is cancelled too unless a submission is
// under way, whose worker then cancels at fal the request fal's answer
// names.
func TestCancelQueued(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name string
		// submit brings the generation to the state the cancel finds it
		// in, calling cancel then.
		submit      func(t *testing.T, b *testBundle, id uuid.UUID, cancel func() *store.Generation) *store.Generation
		wantMessage string
		wantJob     string
	}{
		{
			name: "never submitted",
			submit: func(_ *testing.T, _ *testBundle, _ uuid.UUID, cancel func() *store.Generation) *store.Generation {
				return cancel()
			},
			wantMessage: "cancelled before it was submitted to fal",
			wantJob:     "cancelled",
		},
		{
			name: "the answer to its submission lost, waiting for a webhook",
			submit: func(t *testing.T, b *testBundle, id uuid.UUID, cancel func() *store.Generation) *store.Generation {
				lost := b.cfg
				lost.Fal = b.falLosingAnswers()
				snoozed(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, lost), id))
				return cancel()
			},
			wantMessage: "cancelled before it was submitted to fal again: fal may have accepted, and may bill, " +
				"1 earlier submission(s) whose answers never reached Easel; a result that comes for one is kept, not applied",
			wantJob: "cancelled",
		},
		{
			name: "its submission under way",
			submit: func(t *testing.T, b *testBundle, id uuid.UUID, cancel func() *store.Generation) *store.Generation {
				var got *store.Generation
				during := b.cfg
				during.Fal = falHook{Fal: b.fal, after: func(*fal.QueueResponse) { got = cancel() }}
				require.NoError(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, during), id))
				return got
			},
			wantMessage: "cancelled while its submission to fal was under way",
			wantJob:     "available", // left to finish its call, and cancel the request at fal
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, running)
			gen := b.enqueue(t, "tests")
			canceller := b.canceller(t)

			got := tt.submit(t, b, gen.ID, func() *store.Generation {
				got, err := canceller.Cancel(b.ctx, gen.ID)
				require.NoError(t, err)
				return got
			})
			require.Equal(t, store.StatusCancelled, got.Status)
			require.Equal(t, store.ErrorCodeCancelled, *got.ErrorCode)
			require.Equal(t, tt.wantMessage, *got.ErrorMessage)

			var state string
			require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT state FROM river_job WHERE args->>'generation_id' = $1`, gen.ID.String()).Scan(&state))
			require.Equal(t, tt.wantJob, state)

			before := b.sim.Sim.Stats().Submissions
			require.NoError(t, b.submit(t, gen.ID), "a job run that started anyway submits nothing")
			require.Equal(t, before, b.sim.Sim.Stats().Submissions)
		})
	}
}

func TestCancelSubmitted(t *testing.T) {
	t.Parallel()
	b := setup(t, running)
	gen := b.enqueue(t, "tests")
	require.NoError(t, b.submit(t, gen.ID))

	got, err := b.canceller(t).Cancel(b.ctx, gen.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusCancelled, got.Status)
	require.Equal(t, "cancelled at fal", *got.ErrorMessage)
	status := b.falStatus(t, got)
	require.Equal(t, fal.StatusCompleted, status.Status)
	require.Equal(t, "client_cancelled", status.ErrorType)
}

// fal completed the request before the cancel reached it (ALREADY_COMPLETED):
// the result is applied, and the cancel reports the generation finished.
func TestCancelAfterFalCompleted(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{WebhookDropRate: 1})
	gen := b.enqueue(t, "tests")
	require.NoError(t, b.submit(t, gen.ID))
	b.awaitCompletedAtFal(t, 1)

	got, err := b.canceller(t).Cancel(b.ctx, gen.ID)
	require.ErrorIs(t, err, jobs.ErrFinished)
	require.Equal(t, store.StatusCompleted, got.Status)
	require.Len(t, b.images(t, gen.ID), 2)
}

func TestCancelFinished(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{})
	gen := b.enqueue(t, "tests")
	require.NoError(t, b.submit(t, gen.ID))
	b.awaitDelivery(t)
	before := b.generation(t, gen.ID)
	require.Equal(t, store.StatusCompleted, before.Status)

	got, err := b.canceller(t).Cancel(b.ctx, gen.ID)
	require.ErrorIs(t, err, jobs.ErrFinished)
	require.ErrorContains(t, err, gen.ID.String(), "the error names the generation")
	require.Equal(t, before, got)
	require.Equal(t, before, b.generation(t, gen.ID))
}

func TestCancelUnknown(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{})

	_, err := b.canceller(t).Cancel(b.ctx, uuid.New())
	require.ErrorIs(t, err, store.ErrNotFound)
}

// slowFal is fal answering a cancel only after the caller gave up on it:
// the cancel reaches fal, which cancels the request, but its answer is
// never read.
type slowFal struct{ jobs.Fal }

func (f slowFal) Cancel(ctx context.Context, cancelURL string) (fal.CancelOutcome, error) {
	if _, err := f.Fal.Cancel(context.WithoutCancel(ctx), cancelURL); err != nil {
		return "", err
	}
	<-ctx.Done()
	return "", fmt.Errorf("fal cancel: %w", ctx.Err())
}

// failingFal answers every cancel with err, having sent nothing to fal.
type failingFal struct {
	jobs.Fal
	err error
}

func (f failingFal) Cancel(context.Context, string) (fal.CancelOutcome, error) { return "", f.err }

// When fal does not confirm a cancel, the generation is unchanged and the
// error says whether the cancel may have reached fal all the same.
func TestCancelFalDidNotConfirm(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name string
		// fal returns the client the cancel uses.
		fal         func(t *testing.T, b *testBundle) jobs.Fal
		wantErr     string
		mayHaveSent bool
	}{
		{
			name:    "unreachable",
			fal:     func(_ *testing.T, b *testBundle) jobs.Fal { b.sim.Close(); return b.fal },
			wantErr: "connection refused",
		},
		{
			name: "refused with a 4xx",
			fal: func(_ *testing.T, b *testBundle) jobs.Fal {
				return fal.NewClient(fal.ClientConfig{QueueURL: b.sim.QueueURL()}) // no key: 401
			},
			wantErr: "HTTP 401",
		},
		{
			name:        "answer too slow",
			fal:         func(_ *testing.T, b *testBundle) jobs.Fal { return slowFal{b.fal} },
			wantErr:     "context deadline exceeded",
			mayHaveSent: true,
		},
		{
			name:        "answer lost",
			fal:         func(_ *testing.T, b *testBundle) jobs.Fal { return b.falLosingAnswers() },
			wantErr:     "unexpected EOF",
			mayHaveSent: true,
		},
		{
			name: "fal answered 5xx",
			fal: func(_ *testing.T, b *testBundle) jobs.Fal {
				return failingFal{Fal: b.fal, err: &fal.APIError{Op: "cancel", StatusCode: http.StatusServiceUnavailable}}
			},
			wantErr:     "HTTP 503",
			mayHaveSent: true,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, running)
			gen := b.enqueue(t, "tests")
			require.NoError(t, b.submit(t, gen.ID))
			before := b.generation(t, gen.ID)
			canceller := jobs.NewCanceller(b.pool, b.riverClient(t), tt.fal(t, b), b.cfg.Logger).WithRecordTimeout(100 * time.Millisecond)

			_, err := canceller.Cancel(b.ctx, gen.ID)
			require.ErrorIs(t, err, jobs.ErrFalUnavailable)
			require.ErrorContains(t, err, tt.wantErr)
			require.ErrorContains(t, err, gen.ID.String())
			if tt.mayHaveSent {
				require.ErrorIs(t, err, jobs.ErrCancelMayHaveReachedFal)
			} else {
				require.NotErrorIs(t, err, jobs.ErrCancelMayHaveReachedFal)
			}
			require.Equal(t, before, b.generation(t, gen.ID), "unchanged: the cancel can be retried")
		})
	}
}

// A cancel that reached fal although fal's answer was not read (the user's
// report: fal paused, the cancel call timed out) ends the generation
// cancelled once fal's result is learnt, by the reconciler or by cancelling
// again: never failed with client_cancelled.
func TestCancelThatReachedFalEndsCancelled(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name string
		// fal returns the client of the first cancel.
		fal func(b *testBundle) jobs.Fal
		// settle learns fal's result.
		settle func(t *testing.T, b *testBundle, id uuid.UUID)
	}{
		{name: "answer too slow, then the reconciler", fal: func(b *testBundle) jobs.Fal { return slowFal{b.fal} }, settle: reconcileNow},
		{name: "answer lost, then the reconciler", fal: func(b *testBundle) jobs.Fal { return b.falLosingAnswers() }, settle: reconcileNow},
		{name: "answer too slow, then cancelling again", fal: func(b *testBundle) jobs.Fal { return slowFal{b.fal} }, settle: cancelAgain},
		{
			name: "answer lost, then the reconciler while fal cannot serve results",
			fal:  func(b *testBundle) jobs.Fal { return b.falLosingAnswers() },
			settle: func(t *testing.T, b *testBundle, id uuid.UUID) {
				// fal's status says the request was cancelled: its
				// result is not needed.
				b.failResults(t, http.StatusInternalServerError)
				reconcileNow(t, b, id)
			},
		},
		{
			name: "answer lost, then cancelling again while fal cannot serve results",
			fal:  func(b *testBundle) jobs.Fal { return b.falLosingAnswers() },
			settle: func(t *testing.T, b *testBundle, id uuid.UUID) {
				b.failResults(t, http.StatusInternalServerError)
				cancelAgain(t, b, id)
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, running)
			gen := b.enqueue(t, "tests")
			require.NoError(t, b.submit(t, gen.ID))
			canceller := jobs.NewCanceller(b.pool, b.riverClient(t), tt.fal(b), b.cfg.Logger).WithRecordTimeout(100 * time.Millisecond)

			_, err := canceller.Cancel(b.ctx, gen.ID)
			require.ErrorIs(t, err, jobs.ErrCancelMayHaveReachedFal)
			got := b.generation(t, gen.ID)
			require.Equal(t, store.StatusSubmitted, got.Status)
			require.Equal(t, "client_cancelled", b.falStatus(t, got).ErrorType, "fal did cancel it")

			tt.settle(t, b, gen.ID)
			b.requireCancelledByResult(t, gen.ID)
		})
	}
}

// reconcileNow runs the reconciler, which polls generation id at once.
func reconcileNow(t *testing.T, b *testBundle, _ uuid.UUID) {
	t.Helper()
	b.cfg.PollAfter = time.Nanosecond
	b.reconcile(t)
}

// cancelAgain cancels generation id again, which fal answers
// ALREADY_COMPLETED: the cancel succeeds.
func cancelAgain(t *testing.T, b *testBundle, id uuid.UUID) {
	t.Helper()
	got, err := b.canceller(t).Cancel(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, store.StatusCancelled, got.Status)
}

// fal completed the request before the cancel reached it, but its result
// cannot be fetched: the cancel notes the failure on the generation, as the
// reconciler does, which completes it once fal serves the result.
func TestCancelAfterFalCompletedResultUnavailable(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{WebhookDropRate: 1})
	gen := b.enqueue(t, "tests")
	require.NoError(t, b.submit(t, gen.ID))
	b.awaitCompletedAtFal(t, 1)
	b.failResults(t, http.StatusInternalServerError)

	got, err := b.canceller(t).Cancel(b.ctx, gen.ID)
	require.ErrorIs(t, err, jobs.ErrFinished)
	require.ErrorContains(t, err, gen.ID.String())
	require.Equal(t, store.StatusSubmitted, got.Status)
	require.Equal(t, store.ErrorCodeResultUnavailable, *got.ErrorCode)
	require.Equal(t, "fal reported the request finished (it answered the cancel ALREADY_COMPLETED), so it was likely paid for, "+
		"but its result could not be fetched yet; the reconciler will fetch it: fal result: HTTP 500: Internal Server Error", *got.ErrorMessage)
	require.Equal(t, got, b.generation(t, gen.ID))

	b.failResults(t, 0)
	reconcileNow(t, b, gen.ID)
	done := b.generation(t, gen.ID)
	require.Equal(t, store.StatusCompleted, done.Status)
	require.Nil(t, done.ErrorCode, "the note is cleared")
	require.Len(t, b.images(t, gen.ID), 2)
}

// The decided behaviour for a result that arrives after a cancel: it is kept
// as a "late" webhook event, and the generation stays cancelled.
func TestResultAfterCancelIsLate(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{})
	gen := b.enqueue(t, "tests")

	b.holdWebhooks.Lock()
	lost := b.cfg
	lost.Fal = b.falLosingAnswers()
	snoozed(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, lost), gen.ID))
	got, err := b.canceller(t).Cancel(b.ctx, gen.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusCancelled, got.Status)
	require.Contains(t, *got.ErrorMessage, "fal may have accepted, and may bill, 1 earlier submission(s)")
	b.holdWebhooks.Unlock()

	b.awaitDelivery(t)
	require.Equal(t, store.StatusCancelled, b.generation(t, gen.ID).Status)
	require.Empty(t, b.images(t, gen.ID))
	require.Equal(t, []store.WebhookOutcome{store.OutcomeLate}, b.outcomes(t, gen.ID))
	var body []byte
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT body FROM webhook_events WHERE generation_id = $1`, gen.ID).Scan(&body))
	require.Contains(t, string(body), `"images"`, "the paid result stays on record")
}

// hangingUpFal is fal as seen by a cancel whose caller hangs up (an HTTP
// client going away) just before or just after fal is asked to cancel.
type hangingUpFal struct {
	jobs.Fal
	hangUp      context.CancelFunc
	beforeAsked bool
}

func (f hangingUpFal) Cancel(ctx context.Context, cancelURL string) (fal.CancelOutcome, error) {
	if f.beforeAsked {
		f.hangUp()
	}
	outcome, err := f.Fal.Cancel(ctx, cancelURL)
	f.hangUp()
	return outcome, err
}

// Once fal is asked to cancel, what it answers is recorded even if the
// caller has gone: a request fal cancelled ends COMPLETED with a
// client_cancelled error and no webhook, and would otherwise wait for the
// reconciler.
func TestCancelCallerHangsUp(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name        string
		completed   bool // fal completed the request before the cancel
		beforeAsked bool
		wantErr     error
		wantStatus  store.Status
	}{
		{name: "AfterFalAccepted", wantStatus: store.StatusCancelled},
		{name: "WhileFalIsAsked", beforeAsked: true, wantStatus: store.StatusCancelled},
		{name: "AfterFalCompleted", completed: true, wantErr: jobs.ErrFinished, wantStatus: store.StatusCompleted},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			simCfg := running
			if tt.completed {
				simCfg = falsim.Config{WebhookDropRate: 1}
			}
			b := setup(t, simCfg)
			gen := b.enqueue(t, "tests")
			require.NoError(t, b.submit(t, gen.ID))
			if tt.completed {
				b.awaitCompletedAtFal(t, 1)
			}

			ctx, hangUp := context.WithCancel(b.ctx)
			defer hangUp()
			client := hangingUpFal{Fal: b.cfg.Fal, hangUp: hangUp, beforeAsked: tt.beforeAsked}
			canceller := jobs.NewCanceller(b.pool, b.riverClient(t), client, b.cfg.Logger)
			got, err := canceller.Cancel(ctx, gen.ID)
			if tt.wantErr == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tt.wantErr)
			}
			require.Error(t, ctx.Err(), "the caller hung up")
			require.Equal(t, tt.wantStatus, got.Status)
			require.Equal(t, tt.wantStatus, b.generation(t, gen.ID).Status)
			if tt.completed {
				require.Len(t, b.images(t, gen.ID), 2)
			} else {
				require.Equal(t, "client_cancelled", b.falStatus(t, got).ErrorType, "fal did cancel it")
			}
		})
	}
}
