package migrations_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/migrations"
)

// Migration 000023 adds what fal last said about a generation's request
// without rewriting generations (the same relfilenode: no table rewrite on
// a big table), NULL on existing rows, each column saying what it is in
// \d+; down drops them.
func TestFalStatusColumns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := migratedTo(t, 22)
	conn := connectTo(t, url)

	const id = "01a214de-0000-7000-8000-000000000023"
	exec(t, url, `INSERT INTO generations (id, client, endpoint_id, input, status, fal_request_id, submitting_at, attempts,
			fal_submissions, fal_submissions_confirmed, submitted_at)
		VALUES ('`+id+`', 'tests', 'fal-ai/fooocus/image-prompt', '{}', 'submitted', 'req-1', now(), 1, 1, 1, now())`)
	relfilenode := func() uint32 {
		t.Helper()
		var n uint32
		require.NoError(t, conn.QueryRow(ctx, `SELECT relfilenode FROM pg_class WHERE oid = 'generations'::regclass`).Scan(&n))
		return n
	}
	before := relfilenode()
	columns := func() map[string]string {
		t.Helper()
		rows, err := conn.Query(ctx, `SELECT a.attname, coalesce(col_description(a.attrelid, a.attnum), '')
			FROM pg_attribute a
			WHERE a.attrelid = 'generations'::regclass AND a.attname IN ('fal_status', 'fal_queue_position', 'fal_status_at')
				AND NOT a.attisdropped`)
		require.NoError(t, err)
		defer rows.Close()
		got := map[string]string{}
		for rows.Next() {
			var name, comment string
			require.NoError(t, rows.Scan(&name, &comment))
			got[name] = comment
		}
		require.NoError(t, rows.Err())
		return got
	}
	require.Empty(t, columns(), "not there before 000023")

	require.NoError(t, migrations.Up(ctx, url, nil))
	require.Equal(t, before, relfilenode(), "adding the columns does not rewrite the table")
	got := columns()
	require.Len(t, got, 3)
	require.Contains(t, got["fal_status"], "IN_QUEUE")
	require.Contains(t, got["fal_status"], "Only as fresh as fal_status_at")
	require.Contains(t, got["fal_queue_position"], "IN_QUEUE")
	require.Contains(t, got["fal_status_at"], "last_polled_at")

	var status *string
	var position *int
	require.NoError(t, conn.QueryRow(ctx, `SELECT fal_status, fal_queue_position FROM generations WHERE id = $1`, id).
		Scan(&status, &position))
	require.Nil(t, status, "nobody asked fal about an existing row")
	require.Nil(t, position)
	_, err := conn.Exec(ctx, `UPDATE generations SET fal_status = 'IN_QUEUE', fal_queue_position = 3, fal_status_at = now() WHERE id = $1`, id)
	require.NoError(t, err)

	latest, err := migrations.Latest()
	require.NoError(t, err)
	require.NoError(t, migrations.Down(ctx, url, nil, int(latest-22)))
	version, _, err := migrations.CurrentVersion(ctx, url)
	require.NoError(t, err)
	require.Equal(t, uint(22), version)
	require.Empty(t, columns(), "down drops them")
	var kept int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM generations WHERE id = $1 AND fal_request_id = 'req-1'`, id).Scan(&kept))
	require.Equal(t, 1, kept, "the generation itself stays")
}
