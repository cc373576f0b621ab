package jobs

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Exported docs state these values, which go doc readers cannot look up
// behind the unexported constants; this keeps the two in step.
func TestDocumentedValues(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		got, want int
		docs      string
	}{
		{"maxSubmitAttempts", maxSubmitAttempts, 20, "SubmitGenerationWorker, README.md, docs/API.md"},
		{"pendingMaxCounts", pendingMaxCounts, 3, "PendingCache"},
		{"reconcileBatch", reconcileBatch, 50, "ReconcileWorker.Work"},
		{"reconcileConcurrency", reconcileConcurrency, 8, "ReconcileWorker.Work"},
	} {
		require.Equal(t, tt.want, tt.got, "%s: the docs of %s state %d", tt.name, tt.docs, tt.want)
	}
}
