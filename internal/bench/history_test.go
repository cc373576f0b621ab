package bench

import (
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
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
		{"Node Type": "Index Only Scan", "Index Name": "generations_created_at_idx"}]}}`})
	r.notice(nil, &pgconn.Notice{Message: "an unrelated notice"})

	indexes, seqScans, err := r.scans()
	require.NoError(t, err)
	require.Equal(t, []string{"generation_images_pkey", "generations_created_at_idx"}, indexes)
	require.Equal(t, []string{"generations"}, seqScans)

	r.reset()
	indexes, seqScans, err = r.scans()
	require.NoError(t, err)
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, planSummary(tt.q))
		})
	}
}
