package jobs_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

// endsRunAfter is fal that ends the reconciler run's context as soon as fal
// has answered the call named by after: what another generation's database
// error (reconcileEach), the job's timeout or SIGTERM does.
type endsRunAfter struct {
	jobs.Fal
	after string // "cancel" or "result"
	end   context.CancelFunc
}

func (f endsRunAfter) Cancel(ctx context.Context, cancelURL string) (fal.CancelOutcome, error) {
	outcome, err := f.Fal.Cancel(ctx, cancelURL)
	if f.after == "cancel" {
		f.end()
	}
	return outcome, err
}

func (f endsRunAfter) Result(ctx context.Context, responseURL string) (json.RawMessage, error) {
	out, err := f.Fal.Result(ctx, responseURL)
	if f.after == "result" {
		f.end()
	}
	return out, err
}

// What fal has answered the reconciler is recorded even when the run's
// context ends right after the answer: a cancel fal carried out is not
// sent again, a paid result is not fetched again, and a timed out
// generation whose cancel fal answered is failed.
func TestReconcilerRecordsFalsAnswerAfterItsContextEnds(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name  string
		after string
		// prepare returns a generation the reconciler's next run handles,
		// with b.cfg set for it.
		prepare func(t *testing.T) (*testBundle, *store.Generation)
		check   func(t *testing.T, b *testBundle, gen *store.Generation)
	}{
		{
			name:  "a superseded request's cancel",
			after: "cancel",
			prepare: func(t *testing.T) (*testBundle, *store.Generation) {
				b, got, second := completedByOlderSubmission(t)
				require.Equal(t, map[string]store.FalCancelReason{*second.FalRequestID: store.FalCancelSuperseded}, b.pendingCancels(t, got.ID))
				return b, second
			},
			check: func(t *testing.T, b *testBundle, second *store.Generation) {
				require.Equal(t, map[string]store.FalCancelAnswer{*second.FalRequestID: store.FalCancelRequested}, b.cancelAnswers(t, second.ID))
				require.Empty(t, b.pendingCancels(t, second.ID))
			},
		},
		{
			name:  "a timed out generation's cancel",
			after: "cancel",
			prepare: func(t *testing.T) (*testBundle, *store.Generation) {
				b := setup(t, running)
				gen := b.enqueue(t, "tests")
				require.NoError(t, b.submit(t, gen.ID))
				b.cfg.Timeout = time.Minute
				_, err := b.pool.Exec(b.ctx, `UPDATE generations SET first_submitting_at = now() - interval '2 hours' WHERE id = $1`, gen.ID)
				require.NoError(t, err)
				return b, b.generation(t, gen.ID)
			},
			check: func(t *testing.T, b *testBundle, gen *store.Generation) {
				got := b.generation(t, gen.ID)
				require.Equal(t, store.StatusFailed, got.Status)
				require.Equal(t, store.ErrorCodeTimeout, *got.ErrorCode)
				require.Equal(t, map[string]store.FalCancelAnswer{*gen.FalRequestID: store.FalCancelRequested}, b.cancelAnswers(t, gen.ID))
			},
		},
		{
			name:  "a polled result",
			after: "result",
			prepare: func(t *testing.T) (*testBundle, *store.Generation) {
				b := setup(t, falsim.Config{WebhookDropRate: 1})
				gen := b.enqueue(t, "tests")
				require.NoError(t, b.submit(t, gen.ID))
				b.awaitCompletedAtFal(t, 1)
				b.cfg.PollAfter = time.Nanosecond // due at once
				return b, gen
			},
			check: func(t *testing.T, b *testBundle, gen *store.Generation) {
				require.Equal(t, store.StatusCompleted, b.generation(t, gen.ID).Status)
				require.Len(t, b.images(t, gen.ID), 2)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, gen := tt.prepare(t)
			ctx, end := context.WithCancel(b.ctx)
			defer end()
			cfg := b.cfg
			cfg.Fal = endsRunAfter{Fal: b.fal, after: tt.after, end: end}
			// The run fails at its next write on the ended context; what
			// fal answered before is recorded.
			_ = jobs.NewReconcileWorker(b.pool, cfg).Work(ctx, &river.Job[jobs.ReconcileArgs]{JobRow: &rivertype.JobRow{ID: 2}})
			require.Error(t, ctx.Err(), "fal was called")
			tt.check(t, b, gen)
		})
	}
}
