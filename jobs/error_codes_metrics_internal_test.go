package jobs

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/metrics"
)

// Every error code Easel fails a generation with is one
// easel_generations_finished_total names, rather than counting as "other":
// metrics spells them out, since jobs imports metrics.
func TestErrorCodesHaveMetrics(t *testing.T) {
	t.Parallel()
	for _, code := range []string{
		ErrorCodeTimeout, ErrorCodeResultUnavailable, ErrorCodeJobLost,
		errorCodeAuth, errorCodeRejected, errorCodeRequestTimeout, errorCodeRateLimited,
		errorCodeUnavailable, errorCodeUnreachable, errorCodeInvalidRequest,
		"submit_failed",  // SubmitGenerationWorker.giveUp
		"invalid_output", // decideResult: fal's output could not be decoded
		"fal_error",      // decideResult: fal's error named no type
	} {
		require.Equal(t, code, metrics.ErrorCodeLabel(code))
	}
}
