package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
	for key, want := range map[string]float64{
		"enqueue_to_submitted_samples":        float64(res.EnqueueToSubmittedSamples),
		"loaded_enqueue_to_submitted_samples": 50,
		"burst_enqueue_to_submitted_samples":  30,
		"history_rows":                        3000,
		"warmup_generations":                  16, // min(N, 4 × concurrency), run before the load and before the probes
		"offered_rate_per_s":                  0,
	} {
		require.Equal(t, want, got[key], key)
	}
	require.Positive(t, res.EnqueueToSubmittedSamples, "every idle probe's submission is seen")
	for _, key := range []string{"synchronous_commit", "fsync", "full_page_writes"} {
		require.NotEmpty(t, got[key], key)
	}
	require.IsType(t, []any{}, got["warnings"], "warnings is an array, empty rather than null")

	// Both scratch databases are gone, and the history had one of its own.
	require.NotEqual(t, res.Database, res.HistoryDatabase)
	conn, err := pgx.Connect(t.Context(), serverURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	var left int
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_database WHERE datname IN ($1, $2)`,
		res.Database, res.HistoryDatabase).Scan(&left))
	require.Zero(t, left, "the bench drops its databases")

	for _, key := range []string{"recipes_ms", "recipes_first_ms"} {
		recipes, ok := got[key].(map[string]any)
		require.True(t, ok, "%s is an object", key)
		for _, r := range history.Recipes() {
			require.Contains(t, recipes, r.Name)
			require.Greater(t, recipes[r.Name], 0.0, r.Name)
		}
	}
	for _, q := range res.Queries {
		require.True(t, q.PlanRecorded)
		require.Positive(t, len(q.Indexes)+len(q.SeqScans), "the plan of %s %s was recorded", q.Kind, q.Name)
	}
	queries, ok := got["queries"].([]any)
	require.True(t, ok, "queries is an array")
	for _, q := range queries {
		q := q.(map[string]any)
		require.IsType(t, []any{}, q["indexes"], "indexes is an array, empty rather than null")
		require.IsType(t, []any{}, q["seq_scans"], "seq_scans is an array, empty rather than null")
	}

	var table bytes.Buffer
	require.NoError(t, res.WriteTable(&table))
	require.Contains(t, table.String(), "generations/s, end to end")
	require.Contains(t, table.String(), history.Recipes()[0].Name)
}
