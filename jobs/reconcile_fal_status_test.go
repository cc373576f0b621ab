package jobs_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/resource"
	"github.com/easelhq/easel/store"
)

// busyFal runs one request at a time, each for an hour, and delivers no
// webhook: what a slow fal looks like to the reconciler.
var busyFal = falsim.Config{MaxConcurrency: 1, Latency: falsim.Latency{Min: time.Hour, Max: time.Hour}, WebhookDropRate: 1}

// wantFalStatus is what a generation's row and resource should say fal
// last reported.
type wantFalStatus struct {
	status   string
	position *int
}

// requireFalStatus requires generation gen, as stored and as the /v1
// resource renders it, to show want.
func (b *testBundle) requireFalStatus(t *testing.T, gen *store.Generation, want wantFalStatus) *store.Generation {
	t.Helper()
	got := b.generation(t, gen.ID)
	require.NotNil(t, got.FalStatus, "fal's answer recorded")
	require.Equal(t, want.status, *got.FalStatus)
	require.Equal(t, want.position, got.FalQueuePosition)
	require.NotNil(t, got.FalStatusAt)

	body, err := json.Marshal(resource.NewGeneration(got, nil))
	require.NoError(t, err)
	var rendered struct {
		FalStatus        *string    `json:"fal_status"`
		FalQueuePosition *int       `json:"fal_queue_position"`
		FalStatusAt      *time.Time `json:"fal_status_at"`
	}
	require.NoError(t, json.Unmarshal(body, &rendered))
	require.Equal(t, want.status, *rendered.FalStatus, "%s", body)
	require.Equal(t, want.position, rendered.FalQueuePosition, "%s", body)
	require.True(t, got.FalStatusAt.Equal(*rendered.FalStatusAt), "%s", body)
	return got
}

func position(n int) *int { return &n }

// While fal holds a request, the reconciler's poll records what fal says
// (IN_PROGRESS; IN_QUEUE with how many are ahead) on the row and in the
// resource, replacing the IN_QUEUE of the submission's answer, and the
// next poll replaces it; a generation that finishes keeps what fal said
// last.
func TestReconcilerRecordsFalStatus(t *testing.T) {
	t.Parallel()
	b := setup(t, busyFal)
	gens := b.submittedGenerations(t, 3)
	for _, gen := range gens {
		require.Equal(t, "IN_QUEUE", *gen.FalStatus, "as fal answered the submission; nobody asked fal since")
	}

	b.cfg.PollAfter = time.Nanosecond
	b.reconcile(t)
	running := b.requireFalStatus(t, gens[0], wantFalStatus{status: "IN_PROGRESS"})
	b.requireFalStatus(t, gens[1], wantFalStatus{status: "IN_QUEUE", position: position(0)})
	third := b.requireFalStatus(t, gens[2], wantFalStatus{status: "IN_QUEUE", position: position(1)})
	for _, gen := range gens {
		got := b.generation(t, gen.ID)
		require.Equal(t, store.StatusSubmitted, got.Status)
		require.Nil(t, got.ErrorCode, "waiting at fal is no error")
	}

	// The first request ends at fal (cancelled there), which starts the
	// second and moves the third up.
	_, err := b.fal.Cancel(b.ctx, *gens[0].FalCancelURL)
	require.NoError(t, err)
	b.reconcile(t)

	first := b.generation(t, gens[0].ID)
	require.Equal(t, store.StatusCancelled, first.Status)
	require.Equal(t, "IN_PROGRESS", *first.FalStatus, "what fal said last before the end")
	require.True(t, running.FalStatusAt.Equal(*first.FalStatusAt))
	b.requireFalStatus(t, gens[1], wantFalStatus{status: "IN_PROGRESS"})
	now := b.requireFalStatus(t, gens[2], wantFalStatus{status: "IN_QUEUE", position: position(0)})
	require.True(t, now.FalStatusAt.After(*third.FalStatusAt), "stamped with the latest answer")
}

// fal reports the request COMPLETED but its result cannot be fetched: the
// row says so alongside the note; once the result is served, the next poll
// completes the generation as it would have anyway.
func TestReconcilerCompletesAfterRecordingFalStatus(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{WebhookDropRate: 1})
	b.failResults(t, 500)
	gen := b.finishedAtFal(t)
	b.awaitCompletedAtFal(t, 1)

	b.cfg.PollAfter = time.Nanosecond
	b.reconcile(t)
	got := b.requireFalStatus(t, gen, wantFalStatus{status: "COMPLETED"})
	require.Equal(t, store.StatusSubmitted, got.Status)
	require.Equal(t, store.ErrorCodeResultUnavailable, *got.ErrorCode)

	b.failResults(t, 0)
	b.reconcile(t)
	got = b.generation(t, gen.ID)
	require.Equal(t, store.StatusCompleted, got.Status)
	require.Nil(t, got.ErrorCode)
	require.Len(t, b.images(t, gen.ID), 2)
	require.Equal(t, "COMPLETED", *got.FalStatus)
}

// An answer to the poll that arrives after the generation stopped
// recording the request it asked about, or finished, writes nothing: the
// row keeps what it had, or what the result that finished it recorded.
func TestReconcilerIgnoresStaleFalStatus(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name string
		// meanwhile changes the generation while fal's answer is held.
		meanwhile func(t *testing.T, b *testBundle, gen *store.Generation)
		// wantKept is whether the earlier answer stays; else the row
		// records COMPLETED, from the result that finished it.
		wantKept   bool
		wantStatus store.Status
	}{
		{
			name: "timed out by another run",
			meanwhile: func(t *testing.T, b *testBundle, gen *store.Generation) {
				failed, err := store.Fail(b.ctx, b.pool, gen.ID, store.ErrorCodeTimeout, "fal did not finish")
				require.NoError(t, err)
				require.True(t, failed)
			},
			wantKept:   true,
			wantStatus: store.StatusFailed,
		},
		{
			name: "completed by another request's result",
			meanwhile: func(t *testing.T, b *testBundle, gen *store.Generation) {
				require.NoError(t, pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
					if _, err := store.TakeResultRequest(b.ctx, tx, gen.ID, "req-earlier"); err != nil {
						return err
					}
					_, err := store.Complete(b.ctx, tx, gen.ID, store.Completion{FalRequestID: "req-earlier"})
					return err
				}))
			},
			wantStatus: store.StatusCompleted,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, busyFal)
			gen := b.submittedGenerations(t, 1)[0]
			b.cfg.PollAfter = time.Nanosecond
			b.reconcile(t)
			before := b.requireFalStatus(t, gen, wantFalStatus{status: "IN_PROGRESS"})

			release := make(chan struct{})
			st := b.stallFal(func(_, op string) <-chan struct{} {
				if op == opStatus {
					return release
				}
				return nil
			})
			done := b.reconcileAsync()
			awaitHeld(t, st, 1)
			tt.meanwhile(t, b, gen)
			close(release)
			require.NoError(t, awaitRun(t, done))

			got := b.generation(t, gen.ID)
			require.Equal(t, tt.wantStatus, got.Status)
			if !tt.wantKept {
				require.Equal(t, "COMPLETED", *got.FalStatus, "the result's, not the late answer about the request the generation no longer records")
				require.Nil(t, got.FalQueuePosition)
				return
			}
			require.Equal(t, "IN_PROGRESS", *got.FalStatus)
			require.True(t, before.FalStatusAt.Equal(*got.FalStatusAt), "the late answer did not restamp it")
		})
	}
}
