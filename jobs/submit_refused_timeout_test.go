package jobs_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

// EASEL_TIMEOUT counts from the first submission fal may have accepted, not
// from attempts fal refused (no connection, 429, 5xx without a request id):
// those are uncounted, and so is their start. The submit backoff spreads 20
// attempts over about an hour and a half, so a generation that fal refused
// for longer than EASEL_TIMEOUT and then accepted must not be timed out by
// the next reconciler run, its request seconds old.
func TestRefusedAttemptsDoNotStartTheTimeout(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		// refusing returns the client whose submit fal refuses.
		refusing func(t *testing.T, b *testBundle) jobs.Fal
	}{
		{
			name: "no connection (fal_unreachable, uncounted)",
			refusing: func(t *testing.T, _ *testBundle) jobs.Fal {
				return fal.NewClient(fal.ClientConfig{QueueURL: closedURL(t), Key: "test-key"})
			},
		},
		{
			name: "429 (fal_rate_limited, uncounted)",
			refusing: func(t *testing.T, b *testBundle) jobs.Fal {
				limited, err := falsim.Start(b.ctx, "127.0.0.1:0", falsim.Config{RateLimitRate: 1})
				require.NoError(t, err)
				t.Cleanup(limited.Close)
				return fal.NewClient(fal.ClientConfig{QueueURL: limited.QueueURL(), Key: "test-key"})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, running) // nothing finishes during the test
			b.cfg.Timeout = 30 * time.Minute
			gen := b.enqueue(t, "tests")

			refusedCfg := b.cfg
			refusedCfg.Fal = tt.refusing(t, b)
			snoozed(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, refusedCfg), gen.ID))
			submissions, _ := b.accounting(t, gen.ID)
			require.Zero(t, submissions, "fal refused it: uncounted")
			require.Zero(t, b.sim.Sim.Stats().Submissions)

			// That refusal was the first of a run of them lasting 31 minutes,
			// the job backing off between them: fal unreachable or rate
			// limiting for half an hour.
			_, err := b.pool.Exec(b.ctx, `UPDATE generations SET submitting_at = submitting_at - interval '31 minutes',
				first_submitting_at = first_submitting_at - interval '31 minutes' WHERE id = $1`, gen.ID)
			require.NoError(t, err)

			// fal accepts the next attempt.
			require.NoError(t, b.submit(t, gen.ID))
			require.Equal(t, store.StatusSubmitted, b.generation(t, gen.ID).Status)
			require.Equal(t, 1, b.sim.Sim.Stats().Submissions)

			b.reconcile(t)
			got := b.generation(t, gen.ID)
			require.Equal(t, store.StatusSubmitted, got.Status,
				"fal accepted the generation seconds ago, yet the reconciler ended it: error_code %q, error_message %q",
				valueOf(got.ErrorCode), valueOf(got.ErrorMessage))
		})
	}
}
