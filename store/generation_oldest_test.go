package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

func TestOldestUnfinished(t *testing.T) {
	t.Parallel()
	b := setup(t)

	ages, err := store.OldestUnfinished(b.ctx, b.pool)
	require.NoError(t, err)
	require.Equal(t, store.UnfinishedAges{}, ages, "nothing unfinished reads 0")

	// at sets a generation's created_at, run_at and submitted_at, as
	// offsets from now ("" leaves the column NULL), and its status.
	at := func(status store.Status, created, runAt, submitted string) {
		t.Helper()
		g := b.insert(t, "")
		_, err := b.pool.Exec(b.ctx, `
			UPDATE generations SET status = $2, created_at = now() + $3::interval,
				run_at = now() + NULLIF($4, '')::interval, submitted_at = now() + NULLIF($5, '')::interval,
				finished_at = CASE WHEN $2 IN ('completed', 'failed', 'cancelled') THEN now() END
			WHERE id = $1`, g.ID, status, created, runAt, submitted)
		require.NoError(t, err)
	}
	within := func(t *testing.T, want, got time.Duration) {
		t.Helper()
		// The database's clock moves on while the test runs.
		require.GreaterOrEqual(t, got, want)
		require.Less(t, got, want+time.Minute)
	}

	// Scheduled for later only: nothing is due.
	at(store.StatusQueued, "-3 hours", "+1 day", "")
	ages, err = store.OldestUnfinished(b.ctx, b.pool)
	require.NoError(t, err)
	require.Zero(t, ages.Queued, "a generation not yet due is not waiting")

	at(store.StatusQueued, "-10 minutes", "", "")          // due 10 minutes ago
	at(store.StatusQueued, "-5 minutes", "-4 minutes", "") // created after it: cannot be due before
	at(store.StatusQueued, "-2 hours", "-10 hours", "")    // a run_at in the past: due at creation
	ages, err = store.OldestUnfinished(b.ctx, b.pool)
	require.NoError(t, err)
	within(t, 2*time.Hour, ages.Queued)

	at(store.StatusQueued, "-3 hours", "-150 minutes", "") // scheduled, created first, due earliest
	at(store.StatusSubmitted, "-1 day", "", "-20 minutes")
	at(store.StatusSubmitted, "-1 hour", "", "-5 minutes")
	at(store.StatusFailed, "-2 days", "", "-2 days") // finished: not counted
	ages, err = store.OldestUnfinished(b.ctx, b.pool)
	require.NoError(t, err)
	within(t, 150*time.Minute, ages.Queued)
	within(t, 20*time.Minute, ages.Submitted)
}

// The scrape reads the oldest unfinished generations through indexes that
// hold or order them, never the table's finished history.
func TestOldestUnfinishedReadsIndexes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.pool.Exec(b.ctx, `
		INSERT INTO generations (id, client, status, endpoint_id, input, created_at, submitted_at, completed_at, finished_at, run_at)
		SELECT gen_random_uuid(), 'c' || (i % 20), s.status, 'fal-ai/fooocus/image-prompt', '{}',
			now() - i * interval '1 second',
			CASE WHEN s.status <> 'queued' THEN now() - i * interval '1 second' END,
			CASE WHEN s.status = 'completed' THEN now() - i * interval '1 second' END,
			CASE WHEN s.status IN ('completed', 'failed') THEN now() - i * interval '1 second' END,
			CASE WHEN s.status = 'queued' AND i % 3 = 0 THEN now() + interval '1 day' END
		FROM generate_series(1, 50000) i
		CROSS JOIN LATERAL (SELECT CASE WHEN i % 500 = 0 THEN 'queued' WHEN i % 500 = 1 THEN 'submitted'
			WHEN i % 10 = 2 THEN 'failed' ELSE 'completed' END AS status) s;
		ANALYZE generations`)
	require.NoError(t, err)

	var plan json.RawMessage
	require.NoError(t, b.pool.QueryRow(b.ctx, `EXPLAIN (FORMAT JSON) `+store.OldestUnfinishedSQL).Scan(&plan))
	var nodes []struct {
		Plan planNode `json:"Plan"`
	}
	require.NoError(t, json.Unmarshal(plan, &nodes))
	var scans []planNode
	nodes[0].Plan.walk(func(n planNode) {
		if n.Relation == "generations" {
			scans = append(scans, n)
		}
	})
	require.Len(t, scans, 3, "the immediate, the scheduled before it, the submitted: %s", plan)
	for _, scan := range scans {
		require.Contains(t, []string{"Index Scan", "Index Only Scan"}, scan.Type, string(plan))
		require.Contains(t, []string{"generations_status_created_at_idx", "generations_unfinished_idx"}, scan.Index, string(plan))
	}
}

type planNode struct {
	Type     string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Index    string     `json:"Index Name"`
	Plans    []planNode `json:"Plans"`
}

func (n planNode) walk(f func(planNode)) {
	f(n)
	for _, p := range n.Plans {
		p.walk(f)
	}
}
