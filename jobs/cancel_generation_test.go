package jobs_test

import (
	"context"
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

func TestCancelQueued(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{})
	gen := b.enqueue(t, "tests")

	got, err := b.canceller(t).Cancel(b.ctx, gen.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusCancelled, got.Status)
	require.Equal(t, "cancelled", *got.ErrorCode)

	var state string
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT state FROM river_job WHERE args->>'generation_id' = $1`, gen.ID.String()).Scan(&state))
	require.Equal(t, "cancelled", state, "the submit job is cancelled too")

	require.NoError(t, b.submit(t, gen.ID), "a job run that started anyway submits nothing")
	require.Zero(t, b.sim.Sim.Stats().Submissions)
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
	require.Equal(t, before, got)
	require.Equal(t, before, b.generation(t, gen.ID))
}

func TestCancelUnknown(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{})

	_, err := b.canceller(t).Cancel(b.ctx, uuid.New())
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestCancelWhenFalIsUnreachable(t *testing.T) {
	t.Parallel()
	b := setup(t, running)
	gen := b.enqueue(t, "tests")
	require.NoError(t, b.submit(t, gen.ID))
	before := b.generation(t, gen.ID)
	b.sim.Close()

	_, err := b.canceller(t).Cancel(b.ctx, gen.ID)
	require.ErrorIs(t, err, jobs.ErrFalUnavailable)
	require.ErrorContains(t, err, "connection refused")
	require.Equal(t, before, b.generation(t, gen.ID), "unchanged: the cancel can be retried")
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
	require.Contains(t, *got.ErrorMessage, "under way")
	b.holdWebhooks.Unlock()

	b.awaitDelivery(t)
	require.Equal(t, store.StatusCancelled, b.generation(t, gen.ID).Status)
	require.Empty(t, b.images(t, gen.ID))
	require.Equal(t, []string{store.OutcomeLate}, b.outcomes(t, gen.ID))
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
// client_cancelled error and no webhook, and the reconciler would record
// it as failed.
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
