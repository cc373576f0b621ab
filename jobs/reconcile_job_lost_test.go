package jobs_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

// submitJobID returns the id of generation id's submit_generation job.
func (b *testBundle) submitJobID(t *testing.T, id uuid.UUID) int64 {
	t.Helper()
	var jobID int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT id FROM river_job WHERE kind = 'submit_generation' AND args @> jsonb_build_object('generation_id', $1::uuid)`,
		id).Scan(&jobID))
	return jobID
}

// riverClient returns a River client that is never started, as River UI's
// actions use one.
func (b *testBundle) riverClient(t *testing.T) *river.Client[pgx.Tx] {
	t.Helper()
	client, err := jobs.NewRiverClient(b.pool, b.cfg)
	require.NoError(t, err)
	return client
}

// A queued generation whose submit job is gone (cancelled or deleted in
// River UI, or discarded) would never be submitted: once due for
// PollAfter, the reconciler fails it with job_lost. One whose job will
// still run, one not due yet, and one with a counted submission (fal may be
// running it: the timeout's to settle) are left alone.
func TestReconcilerFailsGenerationsWithoutJob(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		// due backdates the generation by more than PollAfter.
		due bool
		// lose does to the generation's job what an operator or River did.
		lose       func(t *testing.T, b *testBundle, gen *store.Generation)
		wantFailed bool
	}{
		{
			name: "job cancelled", due: true, wantFailed: true,
			lose: func(t *testing.T, b *testBundle, gen *store.Generation) {
				_, err := b.riverClient(t).JobCancel(b.ctx, b.submitJobID(t, gen.ID))
				require.NoError(t, err)
			},
		},
		{
			name: "job deleted", due: true, wantFailed: true,
			lose: func(t *testing.T, b *testBundle, gen *store.Generation) {
				_, err := b.riverClient(t).JobDelete(b.ctx, b.submitJobID(t, gen.ID))
				require.NoError(t, err)
			},
		},
		{
			name: "job discarded", due: true, wantFailed: true,
			lose: func(t *testing.T, b *testBundle, gen *store.Generation) {
				_, err := b.pool.Exec(b.ctx, `UPDATE river_job SET state = 'discarded', finalized_at = now() WHERE id = $1`, b.submitJobID(t, gen.ID))
				require.NoError(t, err)
			},
		},
		{
			name: "job will still run", due: true,
			lose: func(*testing.T, *testBundle, *store.Generation) {},
		},
		{
			name: "job deleted, not due yet",
			lose: func(t *testing.T, b *testBundle, gen *store.Generation) {
				_, err := b.riverClient(t).JobDelete(b.ctx, b.submitJobID(t, gen.ID))
				require.NoError(t, err)
			},
		},
		{
			name: "job deleted after a submission was counted", due: true,
			lose: func(t *testing.T, b *testBundle, gen *store.Generation) {
				_, err := store.MarkSubmitting(b.ctx, b.pool, gen.ID)
				require.NoError(t, err)
				_, err = b.riverClient(t).JobDelete(b.ctx, b.submitJobID(t, gen.ID))
				require.NoError(t, err)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, falsim.Config{})
			gen := b.enqueue(t, "tests")
			if tt.due {
				_, err := b.pool.Exec(b.ctx, `UPDATE generations SET created_at = now() - interval '2 hours' WHERE id = $1`, gen.ID)
				require.NoError(t, err)
			}
			tt.lose(t, b, gen)

			b.reconcile(t)
			got := b.generation(t, gen.ID)
			if !tt.wantFailed {
				require.Equal(t, store.StatusQueued, got.Status)
				return
			}
			require.Equal(t, store.StatusFailed, got.Status)
			require.Equal(t, store.ErrorCodeJobLost, *got.ErrorCode)
			require.Contains(t, *got.ErrorMessage, "enqueue it again")
			require.Zero(t, b.sim.Sim.Stats().Submissions)
		})
	}
}
