package jobs_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

// gatedSubmit is fal whose submit calls wait, once under way, until gate is
// closed: a submit call that takes a while.
type gatedSubmit struct {
	jobs.Fal
	entered chan<- struct{}
	gate    <-chan struct{}
}

func (f gatedSubmit) Submit(ctx context.Context, req fal.SubmitRequest) (*fal.QueueResponse, error) {
	f.entered <- struct{}{}
	<-f.gate
	return f.Fal.Submit(ctx, req)
}

// The reconciler reads the timed out generations once, then handles them 8
// at a time for up to the whole run when fal is slow. A generation read
// queued with no request, its last submission under way, whose answer is
// recorded before its turn comes, is read again as its cancel is written
// down: the request recorded meanwhile is cancelled at fal, not left to run
// and bill under a generation failed as timed out.
func TestReconcilerTimeoutCancelsRequestRecordedSinceItsRead(t *testing.T) {
	t.Parallel()
	b := setup(t, running)
	b.cfg.PollAfter = time.Nanosecond // resubmit at once after the lost answer
	b.cfg.Timeout = 30 * time.Minute

	// Eight generations timed out long ago, first in the reconciler's line.
	older := b.submittedGenerations(t, 8)
	for _, gen := range older {
		b.submittedAgo(t, gen.ID, 2*time.Hour)
	}

	// The ninth: its first submission's answer was lost; its second submit
	// call is under way when EASEL_TIMEOUT passes.
	gen := b.enqueue(t, "tests")
	lost := b.cfg
	lost.Fal = b.falLosingAnswers()
	snoozed(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, lost), gen.ID))
	entered, gate := make(chan struct{}, 1), make(chan struct{})
	slow := b.cfg
	slow.Fal = gatedSubmit{Fal: b.fal, entered: entered, gate: gate}
	submitted := make(chan error, 1)
	go func() { submitted <- b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, slow), gen.ID) }()
	<-entered
	_, err := b.pool.Exec(b.ctx, `UPDATE generations SET first_submitting_at = now() - interval '31 minutes' WHERE id = $1`, gen.ID)
	require.NoError(t, err)

	// fal is slow to answer the reconciler's cancels of the eight.
	olderIDs := make([]string, len(older))
	for i, g := range older {
		olderIDs[i] = *g.FalRequestID
	}
	release := make(chan struct{})
	st := b.stallFal(func(requestID, op string) <-chan struct{} {
		if op == opCancel && slices.Contains(olderIDs, requestID) {
			return release
		}
		return nil
	})
	done := b.reconcileAsync()
	awaitHeld(t, st, 8)

	// Meanwhile fal answers the ninth's submit, and the answer is recorded.
	close(gate)
	require.NoError(t, <-submitted)
	recorded := b.generation(t, gen.ID)
	require.Equal(t, store.StatusSubmitted, recorded.Status)

	close(release)
	require.NoError(t, awaitRun(t, done))
	got := b.generation(t, gen.ID)
	require.Equal(t, store.StatusFailed, got.Status)
	require.Equal(t, store.ErrorCodeTimeout, *got.ErrorCode)
	require.Equal(t, "fal did not finish within EASEL_TIMEOUT (30m0s) of the submission; cancelled at fal", *got.ErrorMessage,
		"the message is the request's, not the row's as first read")

	status := b.falStatus(t, recorded)
	require.Equal(t, [2]string{fal.StatusCompleted, "client_cancelled"}, [2]string{status.Status, status.ErrorType},
		"request %s, recorded before the reconciler failed the generation, is cancelled at fal", *recorded.FalRequestID)
	require.Empty(t, b.pendingCancels(t, gen.ID), "fal answered the cancel")
	require.Equal(t, map[string]store.FalCancelAnswer{*recorded.FalRequestID: store.FalCancelRequested}, b.cancelAnswers(t, gen.ID))
}

// cancelThenClose is fal whose cancel reaches fal and is answered, after
// which close runs: it closes the reconciler's pool, so that the write that
// fails the generation fails, as when the database restarts between fal's
// answer and that write. (A run whose context ends then still records
// fal's answer: see TestReconcilerRecordsFalsAnswerAfterItsContextEnds.)
type cancelThenClose struct {
	jobs.Fal
	close func()
}

func (f cancelThenClose) Cancel(ctx context.Context, cancelURL string) (fal.CancelOutcome, error) {
	outcome, err := f.Fal.Cancel(ctx, cancelURL)
	f.close()
	return outcome, err
}

// If the write that fails a timed out generation fails after fal accepted
// its cancel, fal then holds the request as cancelled by Easel's key. The
// next run's cancel is answered ALREADY_COMPLETED and fal's result says
// client_cancelled: the generation still ends failed with code timeout, as
// a timeout does, not cancelled as by its owner, because the timeout's
// cancel was written down before it was sent.
func TestReconcilerTimeoutEndsFailedWhenRecordFailsAfterCancel(t *testing.T) {
	t.Parallel()
	b := setup(t, running)
	b.cfg.Timeout = time.Hour
	gen := b.enqueue(t, "tests")
	require.NoError(t, b.submit(t, gen.ID))
	b.submittedAgo(t, gen.ID, 2*time.Hour)

	pool, err := pgxpool.New(b.ctx, b.url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	cfg := b.cfg
	cfg.Fal = cancelThenClose{Fal: b.fal, close: pool.Close}
	err = jobs.NewReconcileWorker(pool, cfg).Work(b.ctx, &river.Job[jobs.ReconcileArgs]{JobRow: &rivertype.JobRow{ID: 2}})
	require.Error(t, err, "the generation could not be failed after fal cancelled the request")
	submitted := b.generation(t, gen.ID)
	require.Equal(t, store.StatusSubmitted, submitted.Status)
	require.Equal(t, map[string]store.FalCancelReason{*submitted.FalRequestID: store.FalCancelTimeout}, b.pendingCancels(t, gen.ID),
		"the cancel was written down before it was sent")

	b.reconcile(t)
	got := b.generation(t, gen.ID)
	require.Equal(t, [2]string{string(store.StatusFailed), store.ErrorCodeTimeout}, [2]string{string(got.Status), valueOf(got.ErrorCode)},
		"a generation that timed out ended with error_message %q", valueOf(got.ErrorMessage))
	require.Contains(t, *got.ErrorMessage, "fal did not finish within EASEL_TIMEOUT")
	require.Empty(t, b.pendingCancels(t, gen.ID))
	require.Equal(t, map[string]store.FalCancelAnswer{*submitted.FalRequestID: store.FalCancelAlreadyCompleted}, b.cancelAnswers(t, gen.ID),
		"the next run's cancel, answered ALREADY_COMPLETED, is kept with the answer")
}

// failingCancels is fal whose cancels fail with err, all else answered.
type failingCancels struct {
	jobs.Fal
	err error
}

func (f failingCancels) Cancel(context.Context, string) (fal.CancelOutcome, error) { return "", f.err }

// A timed out generation whose cancel fal did not answer is failed all the
// same, saying so, and the reconciler sends the cancel again at a later
// run, EASEL_POLL_AFTER after it, until fal answers it: the request does
// not run on and bill because fal had a bad moment. A cancel fal refused
// (4xx) is not sent again: no retry can change its answer.
func TestReconcilerResendsFailedTimeoutCancel(t *testing.T) {
	t.Parallel()
	const timedOut = "fal did not finish within EASEL_TIMEOUT (1h0m0s) of the submission; cancelling it at fal failed: "

	for _, tt := range []struct {
		name        string
		err         error
		wantMessage string
		wantResent  bool
	}{
		{
			name:        "fal unavailable: sent again",
			err:         &fal.APIError{Op: "cancel", StatusCode: http.StatusServiceUnavailable},
			wantMessage: timedOut + "fal cancel: HTTP 503; the reconciler sends the cancel again",
			wantResent:  true,
		},
		{
			name:        "no answer in time: sent again",
			err:         fmt.Errorf("no answer from fal within 7.5s: %w", context.DeadlineExceeded),
			wantMessage: timedOut + "no answer from fal within 7.5s: context deadline exceeded; the reconciler sends the cancel again",
			wantResent:  true,
		},
		{
			name:        "fal refused: not sent again",
			err:         &fal.APIError{Op: "cancel", StatusCode: http.StatusForbidden},
			wantMessage: timedOut + "fal cancel: HTTP 403",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, running)
			b.cfg.Timeout = time.Hour
			gen := b.enqueue(t, "tests")
			require.NoError(t, b.submit(t, gen.ID))
			b.submittedAgo(t, gen.ID, 2*time.Hour)

			failing := b.cfg
			failing.Fal = failingCancels{Fal: b.fal, err: tt.err}
			require.NoError(t, jobs.NewReconcileWorker(b.pool, failing).Work(b.ctx, &river.Job[jobs.ReconcileArgs]{JobRow: &rivertype.JobRow{ID: 2}}))
			got := b.generation(t, gen.ID)
			require.Equal(t, store.StatusFailed, got.Status)
			require.Equal(t, tt.wantMessage, *got.ErrorMessage)
			if !tt.wantResent {
				require.Empty(t, b.pendingCancels(t, gen.ID))
				require.Equal(t, map[string]store.FalCancelAnswer{*got.FalRequestID: store.FalCancelRefused}, b.cancelAnswers(t, gen.ID))
				return
			}
			require.Equal(t, map[string]store.FalCancelReason{*got.FalRequestID: store.FalCancelTimeout}, b.pendingCancels(t, gen.ID))

			b.reconcile(t)
			require.Equal(t, fal.StatusInProgress, b.falStatus(t, got).Status, "not again within EASEL_POLL_AFTER")

			b.cfg.PollAfter = time.Nanosecond
			b.reconcile(t)
			status := b.falStatus(t, got)
			require.Equal(t, [2]string{fal.StatusCompleted, "client_cancelled"}, [2]string{status.Status, status.ErrorType})
			require.Empty(t, b.pendingCancels(t, gen.ID), "fal answered the cancel")
			require.Equal(t, map[string]store.FalCancelAnswer{*got.FalRequestID: store.FalCancelRequested}, b.cancelAnswers(t, gen.ID))
			require.Equal(t, got.ErrorMessage, b.generation(t, gen.ID).ErrorMessage, "the generation is left as it ended")
		})
	}
}
