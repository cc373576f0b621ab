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
	require.Empty(t, indexes)
	require.Empty(t, seqScans)
}
