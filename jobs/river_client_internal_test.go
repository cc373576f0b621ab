package jobs

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A job that times out and then records what it did must be done before
// River deems it stuck and runs it again.
func TestRecordTimeoutEndsBeforeRescue(t *testing.T) {
	t.Parallel()

	for _, rescueAfter := range []time.Duration{0, 5 * time.Second, 6 * time.Second, time.Minute, time.Hour} {
		cfg := Config{RescueAfter: rescueAfter}.withDefaults()
		require.Positive(t, cfg.recordTimeout(), rescueAfter)
		require.Less(t, cfg.jobTimeout()+cfg.recordTimeout(), cfg.RescueAfter, rescueAfter)

		submit := NewSubmitGenerationWorker(nil, Config{RescueAfter: rescueAfter})
		require.Less(t, submit.jobTimeout+submit.recordTimeout, cfg.RescueAfter, rescueAfter)
		callbacks := NewCallbackDeliveryWorker(nil, Config{RescueAfter: rescueAfter})
		require.Less(t, cfg.jobTimeout()+callbacks.recordTimeout, cfg.RescueAfter, rescueAfter)
	}
}
