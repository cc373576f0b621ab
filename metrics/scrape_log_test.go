package metrics_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/metricstest"
	"github.com/easelhq/easel/metrics"
)

// logLines returns b's log lines whose msg is msg, decoded.
func (b *testBundle) logLines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for line := range strings.Lines(b.logs.String()) {
		var record map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &record), line)
		if record["msg"] == msg {
			lines = append(lines, record)
		}
	}
	return lines
}

// While the gauges cannot be read every scrape fails alike: the first
// failure is an ERROR at once, then one a minute counting the failures
// since the last (repeated, from since), and the first read that succeeds
// again says so, once, with how many failed and for how long.
func TestFailedScrapesLoggedOnceAMinute(t *testing.T) {
	t.Parallel()
	b := setup(t)
	start := b.clock.Now()
	require.Equal(t, 1.0, metricstest.Scrape(t, b.metrics.Handler())[`easel_database_up`])
	scrape := func(wantUp float64) {
		t.Helper()
		b.nextDatabaseRead()
		require.Equal(t, wantUp, metricstest.Scrape(t, b.metrics.Handler())[`easel_database_up`])
	}

	_, err := b.pool.Exec(b.ctx, `ALTER TABLE generations RENAME TO generations_away`)
	require.NoError(t, err)
	const scrapes = 29 // a drill's 30 s outage
	for range scrapes {
		scrape(0)
	}
	lines := b.logLines(t, "serve metrics")
	require.Len(t, lines, 1, "one line, at the first failed scrape")
	require.Equal(t, "ERROR", lines[0]["level"])
	require.Contains(t, lines[0]["error"], "error gathering metrics: ")
	require.Contains(t, lines[0]["error"], "generations")
	require.NotContains(t, lines[0], "repeated")

	b.clock.Advance(start.Add(metrics.ScrapeLogEvery).Sub(b.clock.Now()))
	scrape(0)
	lines = b.logLines(t, "serve metrics")
	require.Len(t, lines, 2, "a minute after the first")
	require.EqualValues(t, scrapes, lines[1]["repeated"], "the 28 failures not logged, and this one")
	since, err := time.Parse(time.RFC3339Nano, lines[1]["since"].(string))
	require.NoError(t, err)
	require.True(t, start.Add(2*metrics.DatabaseReadEvery).Equal(since), "since the second failure: %s", since)
	require.Empty(t, b.logLines(t, "database reachable again"))

	_, err = b.pool.Exec(b.ctx, `ALTER TABLE generations_away RENAME TO generations`)
	require.NoError(t, err)
	scrape(1)
	recovered := b.clock.Now()
	scrape(1)
	back := b.logLines(t, "database reachable again")
	require.Len(t, back, 1, "once, at the first read that succeeds")
	require.Equal(t, "INFO", back[0]["level"])
	require.Equal(t, "metrics", back[0]["component"])
	require.EqualValues(t, scrapes+1, back[0]["failed_reads"])
	downFor, err := time.ParseDuration(back[0]["down_for"].(string))
	require.NoError(t, err)
	require.Equal(t, recovered.Sub(start.Add(metrics.DatabaseReadEvery)), downFor, "since the first failed read")
	require.Len(t, b.logLines(t, "serve metrics"), 2)
}
