package jobs_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

// A submit that could never be sent (a FAL_KEY with a trailing newline,
// which net/http refuses to put in a header) is not counted as a submission
// fal may have accepted and waited on: nothing reached fal, and no retry
// can send it, so the generation fails at once with the cause in its
// message, and nothing was paid.
func TestUnsendableSubmitIsNotCounted(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{})
	gen := b.enqueue(t, "tests")

	cfg := b.cfg
	cfg.Fal = fal.NewClient(fal.ClientConfig{QueueURL: b.sim.QueueURL(), Key: "test-key\n"})
	require.NoError(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, cfg), gen.ID))

	got := b.generation(t, gen.ID)
	require.Equal(t, store.StatusFailed, got.Status)
	require.Equal(t, "invalid_request", *got.ErrorCode)
	require.Equal(t, `fal submit: invalid fal request: header "Authorization" holds a control character, `+
		`such as a trailing newline, from the fal key (FAL_KEY); nothing was sent`, *got.ErrorMessage)
	require.Equal(t, 1, got.Attempts)
	submissions, confirmed := b.accounting(t, gen.ID)
	require.Equal(t, [2]int{0, 0}, [2]int{submissions, confirmed}, "nothing fal may have accepted")
	require.Zero(t, b.sim.Sim.Stats().Submissions)
}
