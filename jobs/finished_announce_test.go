package jobs_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/store"
)

// Every way a generation finishes announces it on
// store.GenerationFinishedChannel once it has committed, which is what
// wakes ?wait long-polls in every process.
func TestFinishedGenerationsAreAnnounced(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		sim  falsim.Config
		// finish finishes a generation and returns it.
		finish     func(t *testing.T, b *testBundle) uuid.UUID
		wantStatus store.Status
	}{
		{
			name: "webhook result", sim: falsim.Config{}, wantStatus: store.StatusCompleted,
			finish: func(t *testing.T, b *testBundle) uuid.UUID {
				gen := b.enqueue(t, "tests")
				require.NoError(t, b.submit(t, gen.ID))
				return gen.ID
			},
		},
		{
			name: "fal refuses the submission", sim: falsim.Config{}, wantStatus: store.StatusFailed,
			finish: func(t *testing.T, b *testBundle) uuid.UUID {
				gen, err := store.InsertGeneration(b.ctx, b.pool, store.InsertGenerationParams{
					ID: uuid.New(), Client: "tests", EndpointID: fal.EndpointImagePrompt, Input: json.RawMessage(`["not an object"]`), Priority: 2,
				})
				require.NoError(t, err)
				require.NoError(t, b.submit(t, gen.ID))
				return gen.ID
			},
		},
		{
			name: "cancelled while queued", sim: falsim.Config{}, wantStatus: store.StatusCancelled,
			finish: func(t *testing.T, b *testBundle) uuid.UUID {
				gen := b.enqueue(t, "tests")
				_, err := b.canceller(t).Cancel(b.ctx, gen.ID)
				require.NoError(t, err)
				return gen.ID
			},
		},
		{
			name: "cancelled at fal", sim: running, wantStatus: store.StatusCancelled,
			finish: func(t *testing.T, b *testBundle) uuid.UUID {
				gen := b.enqueue(t, "tests")
				require.NoError(t, b.submit(t, gen.ID))
				_, err := b.canceller(t).Cancel(b.ctx, gen.ID)
				require.NoError(t, err)
				return gen.ID
			},
		},
		{
			name: "cancel finds it completed at fal", sim: falsim.Config{WebhookDropRate: 1}, wantStatus: store.StatusCompleted,
			finish: func(t *testing.T, b *testBundle) uuid.UUID {
				gen := b.enqueue(t, "tests")
				require.NoError(t, b.submit(t, gen.ID))
				b.awaitCompletedAtFal(t, 1)
				_, err := b.canceller(t).Cancel(b.ctx, gen.ID)
				require.Error(t, err)
				return gen.ID
			},
		},
		{
			name: "reconciler polls the result", sim: falsim.Config{WebhookDropRate: 1}, wantStatus: store.StatusCompleted,
			finish: func(t *testing.T, b *testBundle) uuid.UUID {
				gen := b.enqueue(t, "tests")
				require.NoError(t, b.submit(t, gen.ID))
				b.awaitCompletedAtFal(t, 1)
				b.cfg.PollAfter = time.Nanosecond
				b.reconcile(t)
				return gen.ID
			},
		},
		{
			name: "reconciler times it out", sim: running, wantStatus: store.StatusFailed,
			finish: func(t *testing.T, b *testBundle) uuid.UUID {
				gen := b.enqueue(t, "tests")
				require.NoError(t, b.submit(t, gen.ID))
				b.cfg.Timeout = time.Nanosecond
				b.reconcile(t)
				return gen.ID
			},
		},
		{
			name: "reconciler finds its job gone", sim: falsim.Config{}, wantStatus: store.StatusFailed,
			finish: func(t *testing.T, b *testBundle) uuid.UUID {
				gen := b.enqueue(t, "tests")
				_, err := b.pool.Exec(b.ctx, `UPDATE generations SET created_at = now() - interval '2 hours' WHERE id = $1`, gen.ID)
				require.NoError(t, err)
				_, err = b.riverClient(t).JobDelete(b.ctx, b.submitJobID(t, gen.ID))
				require.NoError(t, err)
				b.reconcile(t)
				return gen.ID
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.sim)
			finished := b.listenFinished(t)

			id := tt.finish(t, b)
			require.Equal(t, id, finished(t))
			require.Equal(t, tt.wantStatus, b.generation(t, id).Status)
		})
	}
}
