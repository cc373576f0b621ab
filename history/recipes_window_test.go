package history_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/history"
)

// reportedDay is one row of a recipe as this test reads it: the UTC day it
// reports on and how many generations it counts there.
type reportedDay struct {
	Day   string
	Count int
}

// reported reads each windowed recipe's rows as reportedDays.
var reported = map[string]string{
	"nsfw_rate_per_day":         `SELECT day::text, generations FROM (%s) r`,
	"images_per_client_per_day": `SELECT day::text, generations FROM (%s) r`,
	"time_to_complete_p50_p95":  `SELECT day::text, completed FROM (%s) r`,
	"failures_by_code":          `SELECT (last_seen AT TIME ZONE 'UTC')::date::text, failures FROM (%s) r`,
}

// runAt runs recipe as psql would in a session whose TimeZone is zone, at
// the fixed moment now: now() cannot be set, so the recipe's now() is
// replaced with now.
func (b *testBundle) runAt(t *testing.T, recipe history.Recipe, now time.Time, zone string) []reportedDay {
	t.Helper()
	require.Contains(t, recipe.SQL, "now()", "%s has a window ending now", recipe.Name)
	sql := strings.ReplaceAll(strings.TrimSuffix(recipe.SQL, ";"), "now()",
		fmt.Sprintf("'%s'::timestamptz", now.UTC().Format(time.RFC3339)))

	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { require.NoError(t, tx.Rollback(b.ctx)) }()
	_, err = tx.Exec(b.ctx, `SELECT set_config('TimeZone', $1, true)`, zone)
	require.NoError(t, err)
	rows, err := tx.Query(b.ctx, fmt.Sprintf(reported[recipe.Name], sql))
	require.NoError(t, err)
	days, err := pgx.CollectRows(rows, pgx.RowToStructByPos[reportedDay])
	require.NoError(t, err, recipe.Name)
	return days
}

// The recipes' windows start at midnight UTC (the 7-day failures window, 168
// hours before now) whatever the session's TimeZone, in the weeks after a
// daylight saving change in it too, where subtracting days in the session's
// zone would start them an hour early (after the clocks went back) or late
// (after they went forward). Each case has a generation finished half an
// hour before the window starts, which no recipe may report, and one half
// an hour after, which each must.
func TestRecipesWindowsIgnoreSessionDST(t *testing.T) {
	t.Parallel()

	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return tm
	}
	tests := []struct {
		name    string
		now     string // when the recipes run
		start   string // where their window starts
		recipes []string
	}{
		{
			// New York's clocks went back on 2026-11-01.
			name: "30 days, 25 days after New York's clocks went back", now: "2026-11-26T05:00:00Z",
			start: "2026-10-28T00:00:00Z", recipes: []string{"nsfw_rate_per_day", "images_per_client_per_day"},
		},
		{
			// and forward on 2027-03-14.
			name: "30 days, 10 days after New York's clocks went forward", now: "2027-03-24T05:00:00Z",
			start: "2027-02-23T00:00:00Z", recipes: []string{"nsfw_rate_per_day", "images_per_client_per_day"},
		},
		{
			name: "7 days, 2 days after New York's clocks went back", now: "2026-11-03T05:00:00Z",
			start: "2026-10-28T00:00:00Z", recipes: []string{"time_to_complete_p50_p95"},
		},
		{
			name: "7 days, 3 days after New York's clocks went forward", now: "2027-03-17T05:00:00Z",
			start: "2027-03-11T00:00:00Z", recipes: []string{"time_to_complete_p50_p95"},
		},
		{
			name: "168 hours, 2 days after New York's clocks went back", now: "2026-11-03T05:00:00Z",
			start: "2026-10-27T05:00:00Z", recipes: []string{"failures_by_code"},
		},
		{
			name: "168 hours, 3 days after New York's clocks went forward", now: "2027-03-17T05:00:00Z",
			start: "2027-03-10T05:00:00Z", recipes: []string{"failures_by_code"},
		},
	}
	recipes := map[string]history.Recipe{}
	for _, r := range history.Recipes() {
		recipes[r.Name] = r
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			start := utc(tt.start)
			outside, inside := start.Add(-30*time.Minute), start.Add(30*time.Minute)
			for _, finished := range []time.Time{outside, inside} {
				b.seed(t, row{client: "alpha", status: "completed", created: finished.Add(-10 * time.Second),
					submitted: finished.Add(-9 * time.Second), finished: finished, inference: 5, nsfw: []bool{false}})
				b.seed(t, row{client: "alpha", status: "failed", created: finished.Add(-10 * time.Second),
					finished: finished, errorCode: "fal_server_error", errorMsg: "fal answered 500"})
			}
			want := []reportedDay{{Day: inside.Format(time.DateOnly), Count: 1}}

			for _, zone := range []string{"UTC", "America/New_York", sessionZone} {
				for _, name := range tt.recipes {
					require.Equal(t, want, b.runAt(t, recipes[name], utc(tt.now), zone), "%s in %s", name, zone)
				}
			}
		})
	}
}
