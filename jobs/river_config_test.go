package jobs_test

import (
	"testing"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/metricstest"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/metrics"
)

// metrics cannot import jobs, so it names River's queues itself; this keeps
// its list in step with the queues River works, each of which must read 0
// rather than absent when empty.
func TestRiverConfigQueuesHaveMetrics(t *testing.T) {
	t.Parallel()
	queues := jobs.RiverConfig(jobs.Config{}, river.NewWorkers()).Queues
	require.NotEmpty(t, queues)

	s := metricstest.Scrape(t, metrics.New(dbtest.Pool(t), metrics.Config{}).Handler())
	for queue := range queues {
		for _, state := range []string{"available", "scheduled", "retryable", "running", "pending"} {
			series := `easel_river_jobs{queue="` + queue + `",state="` + state + `"}`
			require.Contains(t, s, series)
			require.Equal(t, 0.0, s[series], series)
		}
	}
}
