package jobs_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

// outage is a submit worker whose database goes down as soon as fal has
// accepted a submit: a Postgres outage that starts while the submit call is
// under way, so that fal's answer cannot be recorded. As with
// dbtest.UnreachablePool, the pool's connections are closed and new ones
// refused; restore ends the outage.
type outage struct {
	worker  *jobs.SubmitGenerationWorker
	down    atomic.Bool
	accepts chan string // request ids fal gave
}

func (b *testBundle) outage(t *testing.T) *outage {
	t.Helper()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refusing := closed.Addr().String()
	require.NoError(t, closed.Close())

	o := &outage{accepts: make(chan string, 10)}
	poolCfg, err := pgxpool.ParseConfig(b.url)
	require.NoError(t, err)
	var dialer net.Dialer
	poolCfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if o.down.Load() {
			addr = refusing
		}
		return dialer.DialContext(ctx, network, addr)
	}
	pool, err := pgxpool.NewWithConfig(b.ctx, poolCfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	cfg := b.cfg
	// Recording is retried for a quarter of it: a short outage suffices.
	cfg.RescueAfter = 2 * time.Second
	cfg.Fal = falHook{Fal: b.fal, after: func(resp *fal.QueueResponse) {
		o.accepts <- resp.RequestID
		o.down.Store(true)
		pool.Reset()
	}}
	o.worker = jobs.NewSubmitGenerationWorker(pool, cfg)
	return o
}

func (o *outage) restore() { o.down.Store(false) }

// runAttempt runs w on generation id as River runs the job's attempt
// attempt, errs being the errors River recorded for its earlier attempts.
func (b *testBundle) runAttempt(w *jobs.SubmitGenerationWorker, id uuid.UUID, attempt int, errs ...rivertype.AttemptError) error {
	return w.Work(b.ctx, &river.Job[jobs.SubmitGenerationArgs]{
		JobRow: &rivertype.JobRow{ID: 1, Attempt: attempt, MaxAttempts: 15, Errors: errs},
		Args:   jobs.SubmitGenerationArgs{GenerationID: id},
	})
}

// attemptError is what River records of an attempt that returned err.
func attemptError(attempt int, err error) rivertype.AttemptError {
	return rivertype.AttemptError{At: time.Now(), Attempt: attempt, Error: err.Error()}
}

// pastPollAfter moves generation id's submission back beyond PollAfter, as
// an outage longer than it does, but not beyond Timeout.
func (b *testBundle) pastPollAfter(t *testing.T, id uuid.UUID) {
	t.Helper()
	shift := b.cfg.PollAfter + time.Minute
	require.Less(t, shift, b.cfg.Timeout)
	_, err := b.pool.Exec(b.ctx, `UPDATE generations SET submitting_at = submitting_at - $2::interval,
		first_submitting_at = first_submitting_at - $2::interval WHERE id = $1`, id, shift)
	require.NoError(t, err)
}

// A database outage that starts while a submit call is under way, longer
// than EASEL_POLL_AFTER: fal accepts the request, recording its answer
// fails. The job's next run knows the request, from the job's errors, which
// River writes once the database is back, whichever process runs it, or
// from the memory of the process whose run lost it, if River could not
// write them (its rescuer ran the job first). It asks fal about the
// request and records it, rather than paying for another however long ago
// the submission started: the generation completes with that request, one
// submission, confirmed.
func TestUnrecordedAnswerIsRecordedNotPaidAgain(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name string
		// next is the worker that runs the job next, and the errors River
		// recorded for the lost answer's attempt, given that attempt's
		// error.
		next func(b *testBundle, o *outage, lost error) (*jobs.SubmitGenerationWorker, rivertype.AttemptError)
	}{
		{
			name: "named by the job's errors, in another process",
			next: func(b *testBundle, _ *outage, lost error) (*jobs.SubmitGenerationWorker, rivertype.AttemptError) {
				return jobs.NewSubmitGenerationWorker(b.pool, b.cfg), attemptError(1, lost)
			},
		},
		{
			name: "remembered by the process, River's record of the error lost",
			next: func(_ *testBundle, o *outage, _ error) (*jobs.SubmitGenerationWorker, rivertype.AttemptError) {
				return o.worker, attemptError(1, errors.New("Stuck job rescued by JobRescuer"))
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, falsim.Config{})
			gen := b.enqueue(t, "tests")
			o := b.outage(t)

			// fal's webhook cannot be stored while the database is down.
			b.holdWebhooks.Lock()
			lost := b.runAttempt(o.worker, gen.ID, 1)
			accepted := <-o.accepts
			o.restore()
			b.pastPollAfter(t, gen.ID)
			next, recorded := tt.next(b, o, lost)
			nextErr := b.runAttempt(next, gen.ID, 2, recorded)
			afterNext, getErr := store.GetGeneration(b.ctx, b.pool, gen.ID)
			b.holdWebhooks.Unlock() // before any assertion: a failed test must not keep the receiver waiting

			require.Error(t, lost)
			require.NoError(t, nextErr)
			require.Equal(t, 1, b.sim.Sim.Stats().Submissions, "the next run submitted again")
			require.NoError(t, getErr)
			require.Equal(t, store.StatusSubmitted, afterNext.Status)
			require.Equal(t, accepted, valueOf(afterNext.FalRequestID))

			b.awaitDelivery(t)
			got := b.generation(t, gen.ID)
			require.Equal(t, store.StatusCompleted, got.Status)
			require.Equal(t, accepted, valueOf(got.FalRequestID))
			require.Len(t, b.images(t, gen.ID), 2)
			require.Equal(t, []store.WebhookOutcome{store.OutcomeApplied}, b.outcomes(t, gen.ID))
			submissions, confirmed := b.accounting(t, gen.ID)
			require.Equal(t, [2]int{1, 1}, [2]int{submissions, confirmed})
			stats := b.sim.Sim.Stats()
			require.Equal(t, 1, stats.Submissions)
			require.Zero(t, stats.DuplicateSubmissions)
			require.ErrorContains(t, lost, `fal accepted request "`+accepted+`" but recording its answer failed: `,
				"the error River keeps names the request")
		})
	}
}

// A request whose answer was lost to an outage and which a webhook then
// reveals is adopted as any revealed request is, and the process forgets
// it as an unrecorded answer: a settled generation holds no room in the
// bounded memory of unrecorded answers.
func TestUnrecordedAnswerRevealedByAWebhook(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{WebhookDropRate: 1})
	gen := b.enqueue(t, "tests")
	o := b.outage(t)
	lost := b.runAttempt(o.worker, gen.ID, 1)
	accepted := <-o.accepts
	o.restore()
	require.ErrorContains(t, lost, accepted)
	require.Equal(t, []string{accepted}, o.worker.RememberedUnrecorded(gen.ID))

	require.Equal(t, store.OutcomeDeferred, b.deliverSigned(t, gen.ID, accepted, deferredWebhook(accepted)))
	require.NoError(t, b.runAttempt(o.worker, gen.ID, 2, attemptError(1, lost)))

	got := b.generation(t, gen.ID)
	require.Equal(t, store.StatusSubmitted, got.Status)
	require.Equal(t, accepted, valueOf(got.FalRequestID))
	submissions, confirmed := b.accounting(t, gen.ID)
	require.Equal(t, [2]int{1, 1}, [2]int{submissions, confirmed})
	require.Equal(t, 1, b.sim.Sim.Stats().Submissions, "nothing submitted again")
	require.Nil(t, o.worker.RememberedUnrecorded(gen.ID), "adopted: no longer remembered as unrecorded")
}

// statusAnswer is fal whose status answers are err, all else answered.
type statusAnswer struct {
	jobs.Fal
	err error
}

func (f statusAnswer) Status(context.Context, string) (*fal.Status, error) { return nil, f.err }

// What fal answers about the unrecorded request decides the next run: a
// request fal does not know (404) is as good as lost, and the generation is
// submitted again after EASEL_POLL_AFTER as before; when fal cannot say
// (no connection, 5xx, or 401/403 although fal took the request with
// Easel's key), nothing is recorded or submitted, and the job asks again in
// a few seconds.
func TestUnrecordedAnswerWhenFalCannotConfirmIt(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name                         string
		err                          error
		wantSnoozeMin, wantSnoozeMax time.Duration // zero: not snoozed
		wantSubmissions              int
		wantStatus                   store.Status
	}{
		{
			name:            "fal does not know it (404): submitted again",
			err:             &fal.APIError{Op: "status", StatusCode: http.StatusNotFound},
			wantSubmissions: 2, wantStatus: store.StatusSubmitted,
		},
		{
			name:          "fal unreachable: asked again later",
			err:           &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")},
			wantSnoozeMin: 2500 * time.Millisecond, wantSnoozeMax: 7500 * time.Millisecond,
			wantSubmissions: 1, wantStatus: store.StatusQueued,
		},
		{
			name:          "fal unavailable (503): asked again later",
			err:           &fal.APIError{Op: "status", StatusCode: http.StatusServiceUnavailable},
			wantSnoozeMin: 2500 * time.Millisecond, wantSnoozeMax: 7500 * time.Millisecond,
			wantSubmissions: 1, wantStatus: store.StatusQueued,
		},
		{
			name:          "fal refuses to say (401): asked again later",
			err:           &fal.APIError{Op: "status", StatusCode: http.StatusUnauthorized},
			wantSnoozeMin: 2500 * time.Millisecond, wantSnoozeMax: 7500 * time.Millisecond,
			wantSubmissions: 1, wantStatus: store.StatusQueued,
		},
		{
			name:          "fal refuses to say (403): asked again later",
			err:           &fal.APIError{Op: "status", StatusCode: http.StatusForbidden},
			wantSnoozeMin: 2500 * time.Millisecond, wantSnoozeMax: 7500 * time.Millisecond,
			wantSubmissions: 1, wantStatus: store.StatusQueued,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, falsim.Config{WebhookDropRate: 1})
			gen := b.enqueue(t, "tests")
			o := b.outage(t)
			lost := b.runAttempt(o.worker, gen.ID, 1)
			accepted := <-o.accepts
			o.restore()
			b.pastPollAfter(t, gen.ID)

			cfg := b.cfg
			cfg.Fal = statusAnswer{Fal: b.fal, err: tt.err}
			err := b.runAttempt(jobs.NewSubmitGenerationWorker(b.pool, cfg), gen.ID, 2, attemptError(1, lost))
			if tt.wantSnoozeMax > 0 {
				d := snoozed(t, err)
				require.GreaterOrEqual(t, d, tt.wantSnoozeMin)
				require.LessOrEqual(t, d, tt.wantSnoozeMax)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tt.wantSubmissions, b.sim.Sim.Stats().Submissions)
			got := b.generation(t, gen.ID)
			require.Equal(t, tt.wantStatus, got.Status)
			if tt.wantStatus == store.StatusSubmitted {
				require.NotEqual(t, accepted, valueOf(got.FalRequestID), "the new submission's request")
			}
		})
	}
}

// While fal cannot be asked about the unrecorded request, the job asks
// again and again without submitting; the reconciler still times the
// generation out EASEL_TIMEOUT after its first submission, and the job
// then ends.
func TestUnrecordedAnswerNeverConfirmedStillTimesOut(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{WebhookDropRate: 1})
	b.cfg.Timeout = 2 * time.Hour
	gen := b.enqueue(t, "tests")
	o := b.outage(t)
	lost := b.runAttempt(o.worker, gen.ID, 1)
	<-o.accepts
	o.restore()

	cfg := b.cfg
	cfg.Fal = statusAnswer{Fal: b.fal, err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	unreachable := jobs.NewSubmitGenerationWorker(b.pool, cfg)
	snoozed(t, b.runAttempt(unreachable, gen.ID, 2, attemptError(1, lost)))

	_, err := b.pool.Exec(b.ctx, `UPDATE generations SET submitting_at = submitting_at - interval '3 hours',
		first_submitting_at = first_submitting_at - interval '3 hours' WHERE id = $1`, gen.ID)
	require.NoError(t, err)
	snoozed(t, b.runAttempt(unreachable, gen.ID, 2, attemptError(1, lost)))
	b.reconcile(t)
	got := b.generation(t, gen.ID)
	require.Equal(t, [2]string{string(store.StatusFailed), store.ErrorCodeTimeout}, [2]string{string(got.Status), valueOf(got.ErrorCode)})

	require.NoError(t, b.runAttempt(unreachable, gen.ID, 2, attemptError(1, lost)), "the job ends with its generation")
	require.Equal(t, 1, b.sim.Sim.Stats().Submissions)
}
