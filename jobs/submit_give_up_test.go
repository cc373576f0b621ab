package jobs_test

import (
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

// A submit job whose last run hits a database error fails its generation
// with submit_failed, which says nothing was billed, only when no
// submission of it was counted; one that may be running at fal is left to
// its webhook or the reconciler's timeout, which says it may have been.
func TestSubmitGiveUp(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		// submitted counts a submission whose answer never came, as a
		// worker killed during fal's call leaves it.
		submitted      bool
		wantStatus     store.Status
		wantCode       string
		wantCodeAtLast string
	}{
		{name: "never submitted", wantStatus: store.StatusFailed, wantCode: store.ErrorCodeSubmitFailed, wantCodeAtLast: store.ErrorCodeSubmitFailed},
		{name: "submission counted", submitted: true, wantStatus: store.StatusQueued, wantCodeAtLast: store.ErrorCodeTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, falsim.Config{})
			b.cfg.PollAfter = time.Nanosecond
			gen := b.enqueue(t, "tests")
			if tt.submitted {
				_, err := b.pool.Exec(b.ctx, `
					UPDATE generations SET fal_submissions = 1, attempts = 1,
						submitting_at = now() - interval '1 minute', first_submitting_at = now() - interval '1 minute'
					WHERE id = $1`, gen.ID)
				require.NoError(t, err)
			}
			// The database refuses every reservation from now on, as it
			// would a run after run of errors.
			_, err := b.pool.Exec(b.ctx, `
				CREATE FUNCTION refuse_reservation() RETURNS trigger LANGUAGE plpgsql AS
					$$ BEGIN RAISE EXCEPTION 'reservation refused by the test'; END $$;
				CREATE TRIGGER refuse_reservation BEFORE UPDATE ON generations FOR EACH ROW
					WHEN (NEW.fal_submissions > OLD.fal_submissions) EXECUTE FUNCTION refuse_reservation()`)
			require.NoError(t, err)

			err = jobs.NewSubmitGenerationWorker(b.pool, b.cfg).Work(b.ctx, &river.Job[jobs.SubmitGenerationArgs]{
				JobRow: &rivertype.JobRow{ID: 1, Attempt: 15, MaxAttempts: 15},
				Args:   jobs.SubmitGenerationArgs{GenerationID: gen.ID},
			})
			require.ErrorContains(t, err, "reservation refused by the test")

			got := b.generation(t, gen.ID)
			require.Equal(t, tt.wantStatus, got.Status)
			require.Equal(t, tt.wantCode, valueOf(got.ErrorCode))
			require.Zero(t, b.sim.Sim.Stats().Submissions, "nothing reached fal")

			// What is left unfinished, the timeout settles.
			b.cfg.Timeout = time.Nanosecond
			b.reconcile(t)
			got = b.generation(t, gen.ID)
			require.Equal(t, store.StatusFailed, got.Status)
			require.Equal(t, tt.wantCodeAtLast, valueOf(got.ErrorCode))
		})
	}
}
