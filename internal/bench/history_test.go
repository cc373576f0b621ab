package bench

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/store"
)

func TestPlanRecorderScans(t *testing.T) {
	t.Parallel()
	r := &planRecorder{}
	r.notice(nil, &pgconn.Notice{Message: "duration: 0.1 ms  plan:\n" + `{"Query Text": "...", "Plan": {"Node Type": "Limit", "Plans": [
		{"Node Type": "Nested Loop", "Plans": [
			{"Node Type": "Index Scan", "Index Name": "generations_created_at_idx", "Relation Name": "generations"},
			{"Node Type": "Bitmap Heap Scan", "Relation Name": "generation_images", "Plans": [
				{"Node Type": "Bitmap Index Scan", "Index Name": "generation_images_pkey"}]}]}]}}`})
	r.notice(nil, &pgconn.Notice{Message: "duration: 0.1 ms  plan:\n" + `{"Plan": {"Node Type": "Aggregate", "Plans": [
		{"Node Type": "Seq Scan", "Relation Name": "generations"},
		{"Node Type": "Gather Merge", "Workers Planned": 2, "Plans": [
			{"Node Type": "Index Only Scan", "Index Name": "generations_created_at_idx"}]}]}}`})
	r.notice(nil, &pgconn.Notice{Message: "an unrelated notice"})

	indexes, seqScans, workers, err := r.scans()
	require.NoError(t, err)
	require.Equal(t, []string{"generation_images_pkey", "generations_created_at_idx"}, indexes)
	require.Equal(t, []string{"generations"}, seqScans)
	require.Equal(t, 2, workers)

	r.reset()
	indexes, seqScans, workers, err = r.scans()
	require.NoError(t, err)
	require.Zero(t, workers)
	require.NotNil(t, indexes, "[] in JSON, not null")
	require.Empty(t, indexes)
	require.NotNil(t, seqScans, "[] in JSON, not null")
	require.Empty(t, seqScans)
}

func TestIndexUsed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		indexes, seqScans []string
		want              bool
	}{
		{name: "IndexOnly", indexes: []string{"generations_created_at_idx"}, seqScans: []string{}, want: true},
		{name: "SeqScanOnGenerationsBesideImageIndex", indexes: []string{"generation_images_pkey"}, seqScans: []string{"generations"}, want: false},
		{name: "SeqScanOnAnotherTable", indexes: []string{"generations_created_at_idx"}, seqScans: []string{"api_keys"}, want: true},
		{name: "SeqScanOnly", indexes: []string{}, seqScans: []string{"generations"}, want: false},
		{name: "Nothing", indexes: []string{}, seqScans: []string{}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, indexUsed(tt.indexes, tt.seqScans))
		})
	}
}

func TestPlanSummary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		q    QueryTiming
		want string
	}{
		{name: "Unknown", q: QueryTiming{}, want: "plan unknown"},
		{
			name: "Index",
			q:    QueryTiming{PlanRecorded: true, IndexUsed: true, Indexes: []string{"a_idx", "b_idx"}},
			want: "index: a_idx, b_idx",
		},
		{
			name: "IndexAndSeqScanElsewhere",
			q:    QueryTiming{PlanRecorded: true, IndexUsed: true, Indexes: []string{"a_idx"}, SeqScans: []string{"api_keys"}},
			want: "index: a_idx; seq scan: api_keys",
		},
		{
			name: "SeqScanOnGenerations",
			q:    QueryTiming{PlanRecorded: true, Indexes: []string{"generation_images_pkey"}, SeqScans: []string{"generations"}},
			want: "no index: generation_images_pkey; seq scan: generations",
		},
		{
			name: "Parallel",
			q:    QueryTiming{PlanRecorded: true, IndexUsed: true, Indexes: []string{"a_idx"}, ParallelWorkers: 2, SerialMs: 34.46},
			want: "index: a_idx; 2 parallel workers, serial 34.5 ms",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, planSummary(tt.q))
		})
	}
}

func TestTimeQueryParallelPlan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// As the superuser, which LOAD 'auto_explain' needs, as easel bench is.
	cfg, err := pgx.ParseConfig(dbtest.URL(t))
	require.NoError(t, err)
	cfg.User, cfg.Password = "postgres", ""
	plans := &planRecorder{}
	cfg.OnNotice = plans.notice
	conn, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.WithoutCancel(ctx)) })

	_, err = conn.Exec(ctx, `LOAD 'auto_explain'`)
	require.NoError(t, err)
	// Parallel plans made free, so that a small table gets one.
	_, err = conn.Exec(ctx, `
		SET auto_explain.log_format = json; SET auto_explain.log_level = notice; SET client_min_messages = notice;
		SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
		CREATE TABLE parallel_probe AS SELECT g AS n FROM generate_series(1, 10000) g; ANALYZE parallel_probe`)
	require.NoError(t, err)

	// As a recipe runs: a prepared statement, whose plan Postgres keeps.
	q := historyQuery{name: "count", kind: "recipe", run: func(ctx context.Context, db store.DBTX) error {
		rows, err := db.Query(ctx, `SELECT count(*) FROM parallel_probe`)
		if err != nil {
			return err
		}
		rows.Close()
		return rows.Err()
	}}
	timing, err := timeQuery(ctx, conn, q, true, plans)
	require.NoError(t, err)
	require.Positive(t, timing.ParallelWorkers)
	require.Positive(t, timing.SerialMs)
	require.Zero(t, timing.SerialWorkers, "the serial runs were planned again without parallel workers")
	require.Equal(t, []string{"parallel_probe"}, timing.SeqScans)

	var setting string
	require.NoError(t, conn.QueryRow(ctx, `SELECT current_setting('max_parallel_workers_per_gather')`).Scan(&setting))
	require.NotEqual(t, "0", setting, "parallel query is back on for the next query")
}
