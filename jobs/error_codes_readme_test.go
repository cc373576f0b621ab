package jobs_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/readmetest"
	"github.com/easelhq/easel/internal/serve"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

// TestREADMEErrorCodes fails when README.md's "Error codes" table and the
// codes Easel writes on a generation differ: a code missing from the
// table, one the table lists that nothing writes, or a status the table
// gives a code that it never has (or leaves out one it may have). fal's
// own error types are not in the table: they pass through as they come.
func TestREADMEErrorCodes(t *testing.T) {
	t.Parallel()

	const (
		queued    = string(store.StatusQueued)
		submitted = string(store.StatusSubmitted)
		failed    = string(store.StatusFailed)
		cancelled = string(store.StatusCancelled)
	)
	written := map[string][]string{
		// store.Cancel: a client's cancel, or fal's client_cancelled result.
		"cancelled": {cancelled},
		// The reconciler.
		jobs.ErrorCodeTimeout: {failed},
		jobs.ErrorCodeJobLost: {failed},
		// Noted while the reconciler (or a cancel) retries; the code it
		// fails with when it gives up.
		jobs.ErrorCodeResultUnavailable: {submitted, failed},
		// Noted on a generation held back; never what it fails with.
		jobs.ErrorCodeSubmitUnconfirmed: {queued},
		// SubmitGenerationWorker.giveUp.
		"submit_failed": {failed},
		// Submit errors that fail the generation at once.
		jobs.ErrorCodeInvalidRequest: {failed},
		jobs.ErrorCodeAuth:           {failed},
		jobs.ErrorCodeRejected:       {failed},
		jobs.ErrorCodeRequestTimeout: {failed},
		// Submit errors noted while the submission is retried, then failed
		// with once the attempts are used up.
		jobs.ErrorCodeRateLimited: {queued, failed},
		jobs.ErrorCodeUnavailable: {queued, failed},
		jobs.ErrorCodeUnreachable: {queued, failed},
		// DecideResult: fal's output could not be decoded, or fal's error
		// named no type.
		"invalid_output": {failed},
		"fal_error":      {failed},
		// easel serve's in-process simulator stopped under its generations.
		serve.ErrorCodeSimulatorRestarted: {failed},
	}
	require.Equal(t, written, readmetest.ErrorCodes(t))
}
