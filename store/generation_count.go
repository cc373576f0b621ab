package store

import (
	"context"
	"fmt"
)

// CountGenerationsByStatus returns the number of generations in each
// status, every status present. While the planner estimates the table below
// exactBelow rows, every status is counted exactly. Beyond that, queued and
// submitted are still counted exactly (generations_unfinished_idx holds
// only those rows), and the finished statuses are estimated from the
// planner's statistics (pg_class.reltuples times pg_stats' frequency of
// each status, as fresh as autovacuum's last ANALYZE): counting them would
// read most of a table of millions of rows on every call.
func CountGenerationsByStatus(ctx context.Context, db DBTX, exactBelow float64) (map[Status]int64, error) {
	counts := map[Status]int64{StatusQueued: 0, StatusSubmitted: 0, StatusCompleted: 0, StatusFailed: 0, StatusCancelled: 0}
	var estimate float64
	if err := db.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'generations'::regclass`).Scan(&estimate); err != nil {
		return nil, fmt.Errorf("count generations: estimate rows: %w", err)
	}

	// reltuples is -1 until the table is first analyzed.
	query := `SELECT status, count(*) FROM generations GROUP BY status`
	if estimate >= exactBelow {
		query = `
			SELECT status, count(*) FROM generations WHERE status IN ('queued', 'submitted') GROUP BY status
			UNION ALL
			SELECT v.status, round(c.reltuples * v.freq)::bigint
			FROM pg_class c
			JOIN pg_namespace n ON n.oid = c.relnamespace
			JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = 'status'
			CROSS JOIN LATERAL unnest(s.most_common_vals::text::text[], s.most_common_freqs) AS v(status, freq)
			WHERE c.oid = 'generations'::regclass AND v.status NOT IN ('queued', 'submitted')`
	}
	rows, err := db.Query(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("count generations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var status Status
		var n int64
		if err := rows.Scan(&status, &n); err != nil {
			return nil, fmt.Errorf("count generations: %w", err)
		}
		counts[status] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count generations: %w", err)
	}
	return counts, nil
}
