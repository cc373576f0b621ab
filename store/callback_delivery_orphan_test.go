package store_test

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// scansOf returns the index each scan of relation reads in query's plan, a
// Bitmap Heap Scan's from its Bitmap Index Scan, "" for a scan of none (a
// Seq Scan), and the plan for messages.
func (b *testBundle) scansOf(t *testing.T, relation, query string, args ...any) ([]string, string) {
	t.Helper()
	var plan json.RawMessage
	require.NoError(t, b.pool.QueryRow(b.ctx, `EXPLAIN (FORMAT JSON) `+query, args...).Scan(&plan))
	var nodes []struct {
		Plan planNode `json:"Plan"`
	}
	require.NoError(t, json.Unmarshal(plan, &nodes))
	var indexes []string
	nodes[0].Plan.walk(func(n planNode) {
		if n.Relation != relation || n.Type == "ModifyTable" { // an UPDATE's target, not a scan
			return
		}
		if n.Type == "Bitmap Heap Scan" && len(n.Plans) == 1 {
			indexes = append(indexes, n.Plans[0].Index)
			return
		}
		indexes = append(indexes, n.Index)
	})
	return indexes, string(plan)
}

// Beside a long ended history, the sweep reads the deliveries not ended
// through their index, and the rows it abandons by primary key, never the
// whole table; it still finds each orphan among the deliveries not ended,
// and leaves alone the ended rows whose River jobs are long gone.
func TestAbandonOrphanedCallbacksReadsIndex(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.endedCallbacks(t, 200000)
	deleted := b.owedCallback(t, "2 hours")
	deletedJob := b.callbackJob(t, deleted, "available")
	_, err := b.pool.Exec(b.ctx, `DELETE FROM river_job WHERE id = $1`, deletedJob)
	require.NoError(t, err)
	discarded := b.owedCallback(t, "1 hour")
	b.callbackJob(t, discarded, "discarded")
	b.callbackJob(t, b.owedCallback(t, "3 hours"), "retryable")
	b.owedCallback(t, "4 hours") // no job yet: the dispatcher's to give one
	_, err = b.pool.Exec(b.ctx, `ANALYZE callback_deliveries; ANALYZE river_job`)
	require.NoError(t, err)

	scans, plan := b.scansOf(t, "callback_deliveries", store.AbandonOrphanedCallbacksSQL, 500)
	require.ElementsMatch(t, []string{"callback_deliveries_unfinished_idx", "callback_deliveries_pkey"}, scans,
		"the candidates through the index of deliveries not ended, the rows abandoned by primary key: %s", plan)

	orphans, err := store.AbandonOrphanedCallbacks(b.ctx, b.pool, 500)
	require.NoError(t, err)
	got := map[uuid.UUID]string{}
	for _, o := range orphans {
		got[o.ID] = o.JobState
	}
	require.Equal(t, map[uuid.UUID]string{deleted: "deleted", discarded: "discarded"}, got)

	orphans, err = store.AbandonOrphanedCallbacks(b.ctx, b.pool, 500)
	require.NoError(t, err)
	require.Empty(t, orphans, "each is abandoned once")
	var abandoned int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM callback_deliveries WHERE abandoned_at IS NOT NULL`).Scan(&abandoned))
	require.Equal(t, 200000/100+2, abandoned, "the history as it was, and the two orphans")
}
