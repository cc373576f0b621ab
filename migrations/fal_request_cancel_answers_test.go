package migrations_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/migrations"
	"github.com/easelhq/easel/store"
)

// claimOf24 is the claim of store.ClaimFalCancels as binaries of schema
// versions 21 to 24 run it, less the stamp: which rows they would send a
// cancel for, and then delete.
const claimOf24 = `
	SELECT p.fal_request_id
	FROM fal_request_cancels p JOIN generations f ON f.id = p.generation_id
	WHERE f.finished_at IS NOT NULL
		AND (p.attempted_at IS NULL OR p.attempted_at < now() - $1::interval)
	ORDER BY coalesce(p.attempted_at, p.created_at)`

// cancelAnswersState is what 000025 changes that \d+ shows.
type cancelAnswersState struct {
	Columns  []string
	Indexes  map[string]string // name: definition, of fal_request_cancels and webhook_events
	Comments map[string]string // object: comment
}

func cancelAnswersStateOf(t *testing.T, conn *pgx.Conn) cancelAnswersState {
	t.Helper()
	ctx := context.Background()
	var s cancelAnswersState
	rows, err := conn.Query(ctx, `SELECT attname FROM pg_attribute
		WHERE attrelid = 'fal_request_cancels'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`)
	require.NoError(t, err)
	s.Columns, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)

	s.Indexes = map[string]string{}
	rows, err = conn.Query(ctx, `SELECT indexname, indexdef FROM pg_indexes
		WHERE schemaname = current_schema() AND tablename IN ('fal_request_cancels', 'webhook_events')`)
	require.NoError(t, err)
	var name, def string
	_, err = pgx.ForEachRow(rows, []any{&name, &def}, func() error {
		s.Indexes[name] = def
		return nil
	})
	require.NoError(t, err)

	s.Comments = map[string]string{}
	rows, err = conn.Query(ctx, `
		SELECT 'table fal_request_cancels', obj_description('fal_request_cancels'::regclass, 'pg_class')
		UNION ALL SELECT 'view generation_history', obj_description('generation_history'::regclass, 'pg_class')
		UNION ALL SELECT 'fal_request_cancels.' || a.attname, col_description(a.attrelid, a.attnum)
			FROM pg_attribute a WHERE a.attrelid = 'fal_request_cancels'::regclass AND a.attnum > 0 AND NOT a.attisdropped
		UNION ALL SELECT 'generations.' || a.attname, col_description(a.attrelid, a.attnum)
			FROM pg_attribute a WHERE a.attrelid = 'generations'::regclass
				AND a.attname IN ('fal_submissions', 'fal_submissions_confirmed')`)
	require.NoError(t, err)
	var comment *string
	_, err = pgx.ForEachRow(rows, []any{&name, &comment}, func() error {
		if comment != nil {
			s.Comments[name] = *comment
		}
		return nil
	})
	require.NoError(t, err)
	return s
}

// Migration 000025 keeps answered cancels, their answer on the row, where
// a binary of 24 never claims them again; it indexes the pending ones and
// every request id fal's invoice may name, and says in \d+ what the table
// is and what the submission counts bound. Down deletes the answered rows,
// which a binary of 24 would take for pending ones, and restores the rest
// as 24 had it.
func TestFalRequestCancelAnswersMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := migratedTo(t, 24)
	conn := connectTo(t, url)

	id := uuid.Must(uuid.NewV7())
	exec(t, url, `INSERT INTO generations (id, client, endpoint_id, input, status, fal_request_id, submitting_at, attempts,
			fal_submissions, fal_submissions_confirmed, finished_at, completed_at)
		VALUES ('`+id.String()+`', 'tests', 'fal-ai/fooocus/image-prompt', '{}', 'completed', 'req-a', now(), 3, 3, 0, now(), now())`,
		`INSERT INTO fal_request_cancels (generation_id, fal_request_id, reason)
		VALUES ('`+id.String()+`', 'req-b', 'superseded'), ('`+id.String()+`', 'req-c', 'superseded')`)
	before := cancelAnswersStateOf(t, conn)
	require.NotContains(t, before.Columns, "answer")

	require.NoError(t, migrations.Up(ctx, url, nil))
	after := cancelAnswersStateOf(t, conn)
	require.Subset(t, after.Columns, []string{"answered_at", "answer"})
	require.Contains(t, after.Indexes, "fal_request_cancels_pending_idx")
	require.Contains(t, after.Indexes["fal_request_cancels_pending_idx"], "WHERE (answered_at IS NULL)")
	require.Contains(t, after.Indexes, "fal_request_cancels_fal_request_id_idx")
	require.Contains(t, after.Indexes, "webhook_events_fal_request_id_idx")
	require.NotContains(t, after.Indexes, "webhook_events_unknown_generation_idx", "replaced")
	require.Contains(t, after.Comments["table fal_request_cancels"], "Every fal request Easel superseded or timed out")
	require.Contains(t, after.Comments["table fal_request_cancels"], "ALREADY_COMPLETED means fal had run the request to its end, and billed it")
	require.Contains(t, after.Comments["fal_request_cancels.answer"], "gave_up")
	require.Contains(t, after.Comments["fal_request_cancels.attempted_at"], "infinity once answered")
	require.Contains(t, after.Comments["generations.fal_submissions"], "fal billed at most this many requests for the generation")
	require.Contains(t, after.Comments["generations.fal_submissions_confirmed"],
		"a result that came by webhook or poll may be one of theirs: fal billed at most fal_submissions requests for the generation in all")
	require.NotContains(t, after.Comments["view generation_history"], "beyond the one")
	require.Contains(t, after.Comments["view generation_history"], "fal billed at most fal_submissions requests for the generation")
	latest, err := migrations.Latest()
	require.NoError(t, err)
	// 25 is additive (TestEveryMigrationRecordsCompatibility checks the
	// row each migration writes); a later one may not be.
	require.Equal(t, int64(latest), compatibilityOf(t, url).schemaVersion)

	var pending int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM fal_request_cancels WHERE answer IS NULL AND answered_at IS NULL`).Scan(&pending))
	require.Equal(t, 2, pending, "the cancels of 24 are pending")

	require.NoError(t, store.FalCancelAnswered(ctx, conn, id, "req-b", "", store.FalCancelSuperseded, store.FalCancelAlreadyCompleted, ""))
	rows, err := conn.Query(ctx, claimOf24, time.Duration(0))
	require.NoError(t, err)
	claimedBy24, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"req-c"}, claimedBy24, "a binary of 24 claims the pending cancel, never the answered one")

	require.NoError(t, migrations.Down(ctx, url, nil, int(latest-24)))
	require.Equal(t, before, cancelAnswersStateOf(t, conn), "down restores the columns, indexes and comments of 24")
	rows, err = conn.Query(ctx, `SELECT fal_request_id FROM fal_request_cancels ORDER BY 1`)
	require.NoError(t, err)
	kept, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"req-c"}, kept, "the answered cancel is deleted, the pending one kept")
	require.Equal(t, compatibilityRow{found: true, schemaVersion: 24, oldest: 21}, compatibilityOf(t, url))

	require.NoError(t, migrations.Up(ctx, url, nil))
	require.Equal(t, after, cancelAnswersStateOf(t, conn))
}

// The columns' constraints keep an answer one of those Easel records, and
// set together with when it was recorded.
func TestFalRequestCancelAnswerConstraints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.URL(t)
	id := uuid.Must(uuid.NewV7())
	exec(t, url, `INSERT INTO generations (id, client, endpoint_id, input) VALUES ('`+id.String()+`', 'tests', 'fal-ai/fooocus/image-prompt', '{}')`,
		`INSERT INTO fal_request_cancels (generation_id, fal_request_id, reason) VALUES ('`+id.String()+`', 'req-1', 'timeout')`)
	for _, tt := range []struct {
		name, set, wantConstraint string
	}{
		{name: "an answer Easel does not record", set: `answer = 'CANCELLED', answered_at = now()`, wantConstraint: "fal_request_cancels_answer"},
		{name: "an answer with no time", set: `answer = 'NOT_FOUND'`, wantConstraint: "fal_request_cancels_answered"},
		{name: "a time with no answer", set: `answered_at = now()`, wantConstraint: "fal_request_cancels_answered"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := connectTo(t, url).Exec(ctx, `UPDATE fal_request_cancels SET `+tt.set)
			require.ErrorContains(t, err, tt.wantConstraint)
		})
	}
}

// A request id from fal's invoice, and the count that caps the deliveries
// naming no generation, are read through webhook_events_fal_request_id_idx,
// not by scanning webhook_events.
func TestWebhookEventsByRequestIDReadIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.URL(t)
	id := uuid.Must(uuid.NewV7())
	exec(t, url,
		`INSERT INTO generations (id, client, endpoint_id, input) VALUES ('`+id.String()+`', 'tests', 'fal-ai/fooocus/image-prompt', '{}')`,
		`INSERT INTO webhook_events (generation_id, fal_request_id, body, body_size, signature_valid, outcome)
		SELECT CASE WHEN i % 10 = 0 THEN NULL ELSE '`+id.String()+`'::uuid END, 'req-' || i, '\x7b7d', 2, true,
			CASE WHEN i % 10 = 0 THEN 'unknown_generation' ELSE 'duplicate' END
		FROM generate_series(1, 20000) i`,
		`ANALYZE webhook_events`)

	for _, tt := range []struct {
		name, query string
	}{
		{name: "invoice lookup", query: `SELECT generation_id, outcome FROM webhook_events WHERE fal_request_id IN ('req-17', 'req-18')`},
		{name: "unknown generation cap", query: `SELECT count(*) FROM webhook_events WHERE generation_id IS NULL AND fal_request_id = 'req-20'`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var plan json.RawMessage
			require.NoError(t, connectTo(t, url).QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+tt.query).Scan(&plan))
			var scans []planScan
			var nodes []struct {
				Plan planScan `json:"Plan"`
			}
			require.NoError(t, json.Unmarshal(plan, &nodes))
			nodes[0].Plan.walk(func(n planScan) {
				if n.Relation == "webhook_events" {
					scans = append(scans, n)
				}
			})
			require.Len(t, scans, 1, string(plan))
			require.Contains(t, []string{"Index Scan", "Index Only Scan", "Bitmap Heap Scan"}, scans[0].Type, string(plan))
			if scans[0].Type == "Bitmap Heap Scan" {
				require.Equal(t, "webhook_events_fal_request_id_idx", scans[0].Plans[0].Index, string(plan))
				return
			}
			require.Equal(t, "webhook_events_fal_request_id_idx", scans[0].Index, string(plan))
		})
	}
}

type planScan struct {
	Type     string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Index    string     `json:"Index Name"`
	Plans    []planScan `json:"Plans"`
}

func (n planScan) walk(f func(planScan)) {
	f(n)
	for _, p := range n.Plans {
		p.walk(f)
	}
}
