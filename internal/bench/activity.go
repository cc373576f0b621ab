package bench

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// activityInterval is how often pg_stat_activity is sampled.
const activityInterval = 20 * time.Millisecond

// Activity is where the bench database's connections spent the pipeline
// phase, from sampling pg_stat_activity: what pg_stat_statements and wait
// event profiling would show, with nothing to install. Each Share is the
// average number of connections in that state (average active sessions):
// a share near the pool size means the pool is the limit, "IO:WALSync"
// means commits are, "idle in transaction" means round trips are.
type Activity struct {
	Samples    int     `json:"samples"`
	Waits      []Share `json:"waits"`
	Statements []Share `json:"statements"`
}

// Share is one state's or statement's average active sessions.
type Share struct {
	Name        string  `json:"name"`
	AvgSessions float64 `json:"avg_sessions"`
}

// activityTop bounds the waits and statements reported.
const activityTop = 8

// sampleActivity samples the connections to dbName until ctx is done. It
// connects to another database so that its own queries do not count among
// the bench database's transactions.
func sampleActivity(ctx context.Context, adminURL, dbName string) (*Activity, error) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil, fmt.Errorf("sample pg_stat_activity: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	waits, statements := map[string]int{}, map[string]int{}
	samples := 0
	ticker := time.NewTicker(activityInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return &Activity{
				Samples:    samples,
				Waits:      topShares(waits, samples),
				Statements: topShares(statements, samples),
			}, nil
		case <-ticker.C:
		}
		rows, err := conn.Query(ctx, `
			SELECT state, coalesce(wait_event_type || ':' || wait_event, ''), query
			FROM pg_stat_activity
			WHERE datname = $1 AND backend_type = 'client backend' AND state <> 'idle'`, dbName)
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			return nil, fmt.Errorf("sample pg_stat_activity: %w", err)
		}
		var state, wait, query string
		_, err = pgx.ForEachRow(rows, []any{&state, &wait, &query}, func() error {
			switch {
			case state != "active":
				waits[state]++ // idle in transaction: waiting for the client's next statement
			case wait == "":
				waits["active: on CPU"]++
			default:
				waits["active: "+wait]++
			}
			if state == "active" {
				statements[oneLine(query)]++
			} else {
				statements[state+", after: "+oneLine(query)]++
			}
			return nil
		})
		if err != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("sample pg_stat_activity: %w", err)
		}
		samples++
	}
}

func topShares(counts map[string]int, samples int) []Share {
	if samples == 0 {
		return []Share{}
	}
	names := slices.SortedFunc(maps.Keys(counts), func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), strings.Compare(a, b))
	})
	shares := make([]Share, 0, min(len(names), activityTop))
	for _, name := range names[:min(len(names), activityTop)] {
		shares = append(shares, Share{Name: name, AvgSessions: float64(counts[name]) / float64(samples)})
	}
	return shares
}

// oneLine collapses a statement's whitespace and cuts it to a readable length.
func oneLine(query string) string {
	s := strings.Join(strings.Fields(query), " ")
	const maxLen = 80
	if r := []rune(s); len(r) > maxLen {
		s = string(r[:maxLen]) + "…"
	}
	return s
}
