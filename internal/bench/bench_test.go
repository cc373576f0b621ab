package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/history"
	"github.com/easelhq/easel/internal/bench"
	"github.com/easelhq/easel/internal/dbtest"
)

func TestRun(t *testing.T) {
	t.Parallel()
	serverURL := os.Getenv("TEST_DATABASE_URL")
	if serverURL == "" {
		serverURL = dbtest.DefaultURL
	}
	res, err := bench.Run(context.Background(), bench.Config{
		Getenv: func(name string) string {
			if name == "DATABASE_URL" {
				return serverURL
			}
			return ""
		},
		N:              50,
		Concurrency:    4,
		HistoryRows:    3000,
		AnchorDuration: 300 * time.Millisecond,
	})
	require.NoError(t, err)
	require.Equal(t, 50, res.Completed)

	raw, err := json.Marshal(res)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(raw, &got))
	for _, key := range []string{
		"raw_commits_per_s", "river_noop_jobs_per_s", "e2e_generations_per_s", "commit_bound_ratio",
		"enqueue_p50_ms", "enqueue_p99_ms", "enqueue_to_submitted_p50_ms", "webhook_p50_ms", "webhook_p99_ms",
		"complete_p99_ms", "commits_per_generation", "peak_rss_mb", "burst_enqueue_to_submitted_max_ms",
	} {
		require.Contains(t, got, key)
		require.Greater(t, got[key], 0.0, key)
	}
	require.GreaterOrEqual(t, got["commits_per_generation"], 3.0, "enqueue, submit and webhook commit at least once each")

	recipes, ok := got["recipes_ms"].(map[string]any)
	require.True(t, ok, "recipes_ms is an object")
	for _, r := range history.Recipes() {
		require.Contains(t, recipes, r.Name)
		require.Greater(t, recipes[r.Name], 0.0, r.Name)
	}
	for _, q := range res.Queries {
		require.Positive(t, len(q.Indexes)+len(q.SeqScans), "the plan of %s %s was recorded", q.Kind, q.Name)
	}

	var table bytes.Buffer
	require.NoError(t, res.WriteTable(&table))
	require.Contains(t, table.String(), "generations/s, end to end")
	require.Contains(t, table.String(), history.Recipes()[0].Name)
}
