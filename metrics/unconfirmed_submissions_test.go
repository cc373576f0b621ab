package metrics_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/metricstest"
	"github.com/easelhq/easel/store"
)

// submitted makes the submissions of generation id as the submit worker
// does: each counted before fal is called, the answers of the first lost
// ones unrecorded, and, with answered, the last one's answer recorded.
func (b *testBundle) submitted(t *testing.T, id uuid.UUID, lost int, answered bool) {
	t.Helper()
	for range lost {
		_, err := store.MarkSubmitting(b.ctx, b.pool, id)
		require.NoError(t, err)
	}
	if !answered {
		return
	}
	_, err := store.MarkSubmitting(b.ctx, b.pool, id)
	require.NoError(t, err)
	_, err = store.RecordSubmitted(b.ctx, b.pool, id, store.Submission{RequestID: "req-" + id.String()})
	require.NoError(t, err)
}

// Submissions fal may bill without Easel having recorded its answer are
// what paying twice looks like: the gauges read them from the generations'
// rows, the unfinished ones only.
func TestSubmissionAccountingGauges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := metricstest.Scrape(t, b.metrics.Handler())
	for _, series := range []string{
		`easel_generations_unconfirmed_submissions`, `easel_generations_resubmitted`, `easel_generations_submit_unconfirmed`,
	} {
		require.Contains(t, s, series, "0, not missing, with none")
		require.Zero(t, s[series], series)
	}

	b.insert(t) // queued, never submitted
	underWay := b.insert(t)
	b.submitted(t, underWay.ID, 1, false) // its answer not in yet
	confirmed := b.insert(t)
	b.submitted(t, confirmed.ID, 0, true)
	resubmitted := b.insert(t)
	b.submitted(t, resubmitted.ID, 1, true) // an answer lost, then submitted again
	held := b.insert(t)
	b.submitted(t, held.ID, 3, false)
	require.NoError(t, store.RecordSubmitError(b.ctx, b.pool, held.ID, store.ErrorCodeSubmitUnconfirmed,
		"fal may have accepted 3 submissions whose answers never came"))
	finished := b.insert(t)
	b.submitted(t, finished.ID, 2, true)
	_, err := store.Fail(b.ctx, b.pool, finished.ID, "timeout", "fal did not finish it in time")
	require.NoError(t, err)

	b.nextDatabaseRead()
	s = metricstest.Scrape(t, b.metrics.Handler())
	for series, want := range map[string]float64{
		// under way 1, resubmitted 2-1, held 3; the finished one's 3-1 no more.
		`easel_generations_unconfirmed_submissions`: 5,
		`easel_generations_resubmitted`:             2, // resubmitted and held
		`easel_generations_submit_unconfirmed`:      1,
		`easel_database_up`:                         1,
	} {
		require.Contains(t, s, series)
		require.Equal(t, want, s[series], series)
	}

	// The held generation's webhook comes: it is finished, and counts no
	// more.
	_, err = store.Fail(b.ctx, b.pool, held.ID, "content_policy_violation", "fal refused the prompt")
	require.NoError(t, err)
	b.nextDatabaseRead()
	s = metricstest.Scrape(t, b.metrics.Handler())
	require.Equal(t, 2.0, s[`easel_generations_unconfirmed_submissions`])
	require.Equal(t, 1.0, s[`easel_generations_resubmitted`])
	require.Equal(t, 0.0, s[`easel_generations_submit_unconfirmed`])
}
