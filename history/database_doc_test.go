package history_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
)

// docSQL is a SQL block of docs/DATABASE.md as the doc marks it: a marker
// naming it, then the block. Every SQL block there is marked, so that each
// one a DBA pastes is one a test ran.
var (
	docSQL    = regexp.MustCompile("(?s)<!-- sql: ([a-z0-9_]+) -->\n```sql\n(.*?)\n```")
	anySQLDoc = regexp.MustCompile("(?m)^```sql$")
)

// databaseDocSQL returns docs/DATABASE.md's marked SQL blocks by name.
func databaseDocSQL(t *testing.T) map[string]string {
	t.Helper()
	doc, err := os.ReadFile("../docs/DATABASE.md")
	require.NoError(t, err)
	blocks := map[string]string{}
	matches := docSQL.FindAllStringSubmatch(string(doc), -1)
	for _, m := range matches {
		require.NotContains(t, blocks, m[1], "docs/DATABASE.md marks two SQL blocks %s", m[1])
		blocks[m[1]] = m[2]
	}
	require.Len(t, anySQLDoc.FindAllString(string(doc), -1), len(matches),
		"every ```sql block of docs/DATABASE.md needs a <!-- sql: name --> marker, and a case in TestDatabaseDocSQL")
	return blocks
}

// TestDatabaseDocSQL runs each SQL block of docs/DATABASE.md, as printed,
// on a migrated database, and checks what a DBA relies on it for.
func TestDatabaseDocSQL(t *testing.T) {
	t.Parallel()

	blocks := databaseDocSQL(t)
	cases := databaseDocCases()
	var inDoc, tested []string
	for name := range blocks {
		inDoc = append(inDoc, name)
	}
	for name := range cases {
		tested = append(tested, name)
	}
	slices.Sort(inDoc)
	slices.Sort(tested)
	require.Equal(t, tested, inDoc, "the SQL blocks of docs/DATABASE.md and the cases here must match")

	for _, name := range inDoc {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setupDoc(t, blocks)
			cases[name](t, b, blocks[name])
		})
	}
}

type docBundle struct {
	ctx    context.Context
	url    string
	pool   *pgxpool.Pool
	blocks map[string]string
}

func setupDoc(t *testing.T, blocks map[string]string) *docBundle {
	t.Helper()
	ctx := context.Background()
	dbURL := dbtest.URL(t)
	cfg, err := pgxpool.ParseConfig(dbURL)
	require.NoError(t, err)
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return &docBundle{ctx: ctx, url: dbURL, pool: pool, blocks: blocks}
}

// conn opens a connection of its own, outside the pool, closed at the end
// of the test; configure, if set, adjusts it first.
func (b *docBundle) conn(t *testing.T, configure func(*pgx.ConnConfig)) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(b.url)
	require.NoError(t, err)
	if configure != nil {
		configure(cfg)
	}
	conn, err := pgx.ConnectConfig(b.ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// docGenerationID is the generation the doc's statements about one
// generation name.
const docGenerationID = "0190a6f2-5c4e-7b7a-9d43-6f1e2a3b4c5d"

// docGen is a generation to seed. A terminal status finishes it at
// finished; an unfinished one was created at created.
type docGen struct {
	id         uuid.UUID // zero: a new one
	client     string
	status     string
	created    time.Time
	finished   time.Time
	images     int
	nsfwImages int
	// unknownNSFW of the images, after the nsfwImages flagged ones, have
	// an unknown flag, and then so has the generation's count.
	unknownNSFW int
	events      int
	// callback gives it a callback_deliveries row, cancelRequest a
	// fal_request_cancels row that fal answered, pendingCancel one it has
	// not answered yet.
	callback      bool
	cancelRequest bool
	pendingCancel bool
}

func (b *docBundle) gen(t *testing.T, g docGen) uuid.UUID {
	t.Helper()
	id := g.id
	if id == uuid.Nil {
		id = uuid.Must(uuid.NewV7())
	}
	terminal := g.status == "completed" || g.status == "failed" || g.status == "cancelled"
	created := g.created
	if created.IsZero() {
		created = g.finished.Add(-time.Minute)
	}
	var finished, completed, imageCount, nsfwCount, errorCode any
	if terminal {
		finished = g.finished
	}
	switch g.status {
	case "completed":
		completed, imageCount, nsfwCount = g.finished, g.images, g.nsfwImages
		if g.unknownNSFW > 0 {
			nsfwCount = nil
		}
	case "failed":
		errorCode = "fal_server_error"
	case "cancelled":
		errorCode = "cancelled"
	}
	_, err := b.pool.Exec(b.ctx, `
		INSERT INTO generations (id, client, status, endpoint_id, input, created_at, completed_at, finished_at,
			fal_request_id, fal_submissions, image_count, nsfw_image_count, error_code)
		VALUES ($1, $2, $3, 'fal-ai/fooocus/image-prompt', '{"prompt": "a lighthouse"}', $4, $5, $6,
			$7, 1, $8, $9, $10)`,
		id, g.client, g.status, created, completed, finished, "req-"+id.String(), imageCount, nsfwCount, errorCode)
	require.NoError(t, err)
	for i := range g.images {
		var nsfw *bool
		if i < g.images-g.unknownNSFW {
			nsfw = new(i < g.nsfwImages)
		}
		_, err := b.pool.Exec(b.ctx, `INSERT INTO generation_images (generation_id, position, url, nsfw) VALUES ($1, $2, $3, $4)`,
			id, i, fmt.Sprintf("https://example.com/%s/%d.png", id, i), nsfw)
		require.NoError(t, err)
	}
	for range g.events {
		received := created
		if terminal {
			received = g.finished
		}
		_, err := b.pool.Exec(b.ctx, `
			INSERT INTO webhook_events (generation_id, received_at, fal_request_id, headers, body, body_size, signature_valid, outcome)
			VALUES ($1, $2, $3, '{"X-Fal-Webhook-Signature": "sig"}', 'raw body', 8, true, 'applied')`,
			id, received, "req-"+id.String())
		require.NoError(t, err)
	}
	if g.callback {
		_, err := b.pool.Exec(b.ctx, `INSERT INTO callback_deliveries (generation_id, url, delivered_at) VALUES ($1, 'https://example.com/cb', $2)`,
			id, finished)
		require.NoError(t, err)
	}
	if g.cancelRequest {
		_, err := b.pool.Exec(b.ctx, `
			INSERT INTO fal_request_cancels (generation_id, fal_request_id, reason, answer, answered_at, attempted_at)
			VALUES ($1, $2, 'superseded', 'ALREADY_COMPLETED', now(), 'infinity')`,
			id, "superseded-"+id.String())
		require.NoError(t, err)
	}
	if g.pendingCancel {
		_, err := b.pool.Exec(b.ctx, `INSERT INTO fal_request_cancels (generation_id, fal_request_id, reason) VALUES ($1, $2, 'timeout')`,
			id, "timed-out-"+id.String())
		require.NoError(t, err)
	}
	return id
}

// tombstones are the request ids deleted_fal_requests records of
// generation id, with its client.
func (b *docBundle) tombstones(t *testing.T, id uuid.UUID) map[string]string {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, `SELECT fal_request_id, client FROM deleted_fal_requests WHERE generation_id = $1`, id)
	require.NoError(t, err)
	out := map[string]string{}
	var request, client string
	_, err = pgx.ForEachRow(rows, []any{&request, &client}, func() error {
		out[request] = client
		return nil
	})
	require.NoError(t, err)
	return out
}

// count runs a count(*) query.
func (b *docBundle) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(b.ctx, query, args...).Scan(&n), query)
	return n
}

// batches runs a batched deletion as its loop would, until it deletes
// nothing, and returns what each batch printed.
func (b *docBundle) batches(t *testing.T, sql string) []int {
	t.Helper()
	var printed []int
	for range 100 {
		var n int
		require.NoError(t, b.pool.QueryRow(b.ctx, sql).Scan(&n))
		printed = append(printed, n)
		if n == 0 {
			return printed
		}
	}
	t.Fatalf("deleted rows for 100 batches: %v", printed)
	return nil
}

// children counts the rows that refer to a generation, table by table.
func (b *docBundle) children(t *testing.T, id uuid.UUID) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"generation_images", "webhook_events", "callback_deliveries", "fal_request_cancels", "polled_results"} {
		out[table] = b.count(t, `SELECT count(*) FROM `+table+` WHERE generation_id = $1`, id)
	}
	return out
}

func (b *docBundle) exists(t *testing.T, id uuid.UUID) bool {
	t.Helper()
	return b.count(t, `SELECT count(*) FROM generations WHERE id = $1`, id) == 1
}

// roleSettings runs sql, which sets role's settings, in a transaction that
// creates the role if the server has none of that name, and rolls back,
// so that no role or setting outlives the test. It returns the settings
// the role had in the transaction. It connects as the server's
// administrator, as a DBA would: the test database's owner may not
// create roles.
func (b *docBundle) roleSettings(t *testing.T, role, sql string) []string {
	t.Helper()
	u, err := url.Parse(b.url)
	require.NoError(t, err)
	admin := dbtest.Config(t)
	admin.Database = strings.TrimPrefix(u.Path, "/")
	conn, err := pgx.Connect(b.ctx, admin.URL())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	tx, err := conn.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { require.NoError(t, tx.Rollback(b.ctx)) }()
	_, err = tx.Exec(b.ctx, fmt.Sprintf(`DO $$ BEGIN
		IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN CREATE ROLE %s; END IF; END $$`, role, role))
	require.NoError(t, err)
	_, err = tx.Exec(b.ctx, sql)
	require.NoError(t, err)
	var settings []string
	require.NoError(t, tx.QueryRow(b.ctx, `
		SELECT coalesce(setconfig, '{}') FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
		WHERE r.rolname = $1 AND s.setdatabase = 0`, role).Scan(&settings))
	return settings
}

type docCase func(t *testing.T, b *docBundle, sql string)

func databaseDocCases() map[string]docCase {
	return map[string]docCase{
		"size_per_generation":                 testSizePerGeneration,
		"delete_finished_generations":         testDeleteFinishedGenerations,
		"unfinished_of_client":                testUnfinishedOfClient,
		"delete_client_history":               testDeleteClientHistory,
		"unsafe_delete":                       testUnsafeDelete,
		"delete_unknown_webhook_events":       testDeleteUnknownWebhookEvents,
		"strip_deleted_generation_deliveries": testStripDeletedGenerationDeliveries,
		"strip_webhook_payloads":              testStripWebhookPayloads,
		"erase_generation":                    testEraseGeneration,
		"deleted_requests_of_client":          testDeletedRequestsOfClient,
		"prune_deleted_fal_requests":          testPruneDeletedFalRequests,
		"table_rows":                          testTableRows,
		"long_transactions":                   testLongTransactions,
		"blocked_sessions":                    testBlockedSessions,
		"vacuum_full_generations":             testVacuumFullGenerations,
		"autovacuum_settings":                 testAutovacuumSettings,
		"dead_tuples":                         testDeadTuples,
		"replication_slots":                   testReplicationSlots,
		"generations_index_sizes":             testGenerationsIndexSizes,
		"reindex_status_created_at":           testReindexStatusCreatedAt,
		"wraparound_databases":                testWraparoundDatabases,
		"wraparound_tables":                   testWraparoundTables,
		"connections_by_client":               testConnectionsByClient,
		"analyst_role":                        testAnalystRole,
		"easel_role":                          testEaselRole,
		"daily_rollup_table":                  testDailyRollupTable,
		"daily_rollup":                        testDailyRollup,
		"restore_point":                       testRestorePoint,
		"restore_at_risk":                     testRestoreAtRisk,
		"restore_lost_requests":               testRestoreLostRequests,
	}
}

func testSizePerGeneration(t *testing.T, b *docBundle, sql string) {
	now := time.Now()
	for range 3 {
		b.gen(t, docGen{client: "alpha", status: "completed", finished: now, images: 2, events: 1})
	}
	_, err := b.pool.Exec(b.ctx, `ANALYZE`)
	require.NoError(t, err)

	rows, err := b.pool.Query(b.ctx, sql)
	require.NoError(t, err)
	perGeneration := map[string]float64{}
	var order []string
	for rows.Next() {
		var relation, total, indexes string
		var bytes *float64
		require.NoError(t, rows.Scan(&relation, &total, &indexes, &bytes))
		require.NotNil(t, bytes, "%s: bytes_per_generation once generations is analyzed", relation)
		perGeneration[relation] = *bytes
		order = append(order, relation)
	}
	require.NoError(t, rows.Err())
	require.ElementsMatch(t, []string{"total", "generations", "generation_images", "webhook_events", "callback_deliveries",
		"fal_request_cancels", "inflight_slots", "river_job"}, order)
	require.Equal(t, "total", order[0], "the total comes first, as the largest")
	var sum float64
	for relation, bytes := range perGeneration {
		require.Positive(t, bytes, relation)
		if relation != "total" {
			sum += bytes
		}
	}
	require.InDelta(t, perGeneration["total"], sum, 8, "the total is the tables' sum, each rounded")
}

func testDeleteFinishedGenerations(t *testing.T, b *docBundle, sql string) {
	now := time.Now()
	old, recent := now.AddDate(0, 0, -410), now.AddDate(0, 0, -390)
	oldCompleted := b.gen(t, docGen{client: "alpha", status: "completed", finished: old, images: 2, events: 2,
		callback: true, cancelRequest: true})
	oldFailed := b.gen(t, docGen{client: "alpha", status: "failed", finished: old, events: 1})
	oldCancelled := b.gen(t, docGen{client: "beta", status: "cancelled", finished: old})
	// Unfinished for 410 days: never deleted, whatever their age.
	oldQueued := b.gen(t, docGen{client: "alpha", status: "queued", created: old})
	oldSubmitted := b.gen(t, docGen{client: "beta", status: "submitted", created: old, events: 1, cancelRequest: true})
	// Finished, but its timeout's cancel not answered yet: left for a
	// later run.
	oldTimedOut := b.gen(t, docGen{client: "beta", status: "failed", finished: old, events: 1, pendingCancel: true})
	recentCompleted := b.gen(t, docGen{client: "alpha", status: "completed", finished: recent, images: 1, events: 1, callback: true})
	// A slot naming a deleted generation is freed, not deleted.
	_, err := b.pool.Exec(b.ctx, `INSERT INTO inflight_slots (scope, slot, generation_id) VALUES ('', 1, $1)`, oldCompleted)
	require.NoError(t, err)
	// More than a batch.
	_, err = b.pool.Exec(b.ctx, `
		INSERT INTO generations (id, client, status, endpoint_id, input, created_at, finished_at)
		SELECT gen_random_uuid(), 'bulk', 'failed', 'fal-ai/fooocus/image-prompt', '{}', $1, $1
		FROM generate_series(1, 5000)`, old)
	require.NoError(t, err)

	require.Equal(t, []int{5000, 3, 0}, b.batches(t, sql), "5,003 finished generations past the cutoff, in batches of 5,000")

	none := map[string]int{"generation_images": 0, "webhook_events": 0, "callback_deliveries": 0, "fal_request_cancels": 0, "polled_results": 0}
	for _, id := range []uuid.UUID{oldCompleted, oldFailed, oldCancelled} {
		require.False(t, b.exists(t, id))
		require.Equal(t, none, b.children(t, id), "a deleted generation's rows go with it")
	}
	require.Zero(t, b.count(t, `SELECT count(*) FROM generations WHERE client = 'bulk'`))
	var slotHolder *uuid.UUID
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT generation_id FROM inflight_slots WHERE scope = '' AND slot = 1`).Scan(&slotHolder))
	require.Nil(t, slotHolder, "the slot is kept, freed")
	// Their request ids are kept, for the invoice and for erasure at fal.
	require.Equal(t, map[string]string{"req-" + oldCompleted.String(): "alpha", "superseded-" + oldCompleted.String(): "alpha"},
		b.tombstones(t, oldCompleted))
	require.Equal(t, map[string]string{"req-" + oldCancelled.String(): "beta"}, b.tombstones(t, oldCancelled))
	require.Zero(t, b.count(t, `SELECT count(*) FROM deleted_fal_requests WHERE client = 'bulk'`), "no request, nothing kept")

	require.True(t, b.exists(t, oldQueued), "unfinished generations are never deleted")
	require.True(t, b.exists(t, oldSubmitted), "unfinished generations are never deleted")
	require.Equal(t, map[string]int{"generation_images": 0, "webhook_events": 1, "callback_deliveries": 0, "fal_request_cancels": 1, "polled_results": 0},
		b.children(t, oldSubmitted))
	require.True(t, b.exists(t, oldTimedOut), "a cancel fal has not answered keeps its generation")
	require.Equal(t, map[string]int{"generation_images": 0, "webhook_events": 1, "callback_deliveries": 0, "fal_request_cancels": 1, "polled_results": 0},
		b.children(t, oldTimedOut))
	require.True(t, b.exists(t, recentCompleted), "within the cutoff")
	require.Equal(t, map[string]int{"generation_images": 1, "webhook_events": 1, "callback_deliveries": 1, "fal_request_cancels": 0, "polled_results": 0},
		b.children(t, recentCompleted))
	for _, id := range []uuid.UUID{oldQueued, oldSubmitted, oldTimedOut, recentCompleted} {
		require.Empty(t, b.tombstones(t, id))
	}

	// Once fal answers the cancel, the next run deletes it.
	_, err = b.pool.Exec(b.ctx, `UPDATE fal_request_cancels SET answer = 'CANCELLATION_REQUESTED', answered_at = now(), attempted_at = 'infinity'
		WHERE generation_id = $1`, oldTimedOut)
	require.NoError(t, err)
	require.Equal(t, []int{1, 0}, b.batches(t, sql))
	require.False(t, b.exists(t, oldTimedOut))
	require.Equal(t, map[string]string{"req-" + oldTimedOut.String(): "beta", "timed-out-" + oldTimedOut.String(): "beta"},
		b.tombstones(t, oldTimedOut))

	// What the doc says of the schema: what each reference does on
	// DELETE, and the one DELETE trigger.
	rows, err := b.pool.Query(b.ctx, `
		SELECT conrelid::regclass::text, confdeltype::text FROM pg_constraint
		WHERE confrelid = 'generations'::regclass AND contype = 'f'`)
	require.NoError(t, err)
	actions := map[string]string{}
	for rows.Next() {
		var table, action string
		require.NoError(t, rows.Scan(&table, &action))
		actions[table] = action
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[string]string{"generation_images": "c", "webhook_events": "c", "callback_deliveries": "c",
		"fal_request_cancels": "c", "polled_results": "c", "inflight_slots": "n"}, actions, "docs/DATABASE.md lists what follows a deletion")
	// tgtype bit 3 (8) is DELETE, bit 1 (2) BEFORE; the internal ones carry
	// the references' actions above.
	rows, err = b.pool.Query(b.ctx, `SELECT tgname || CASE WHEN tgtype & 2 <> 0 THEN ' before' ELSE ' after' END FROM pg_trigger
		WHERE tgrelid = 'generations'::regclass AND NOT tgisinternal AND tgtype & 8 <> 0`)
	require.NoError(t, err)
	triggers, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"generations_before_delete before"}, triggers, "docs/DATABASE.md names the one trigger that runs on DELETE")
}

// seedClients seeds acme-thumbnails's history, finished and not, and
// another client's.
func seedClients(t *testing.T, b *docBundle) (finished, unfinished, others []uuid.UUID) {
	t.Helper()
	now := time.Now()
	finished = []uuid.UUID{
		b.gen(t, docGen{client: "acme-thumbnails", status: "completed", finished: now.AddDate(-2, 0, 0), images: 2, events: 1, callback: true}),
		b.gen(t, docGen{client: "acme-thumbnails", status: "failed", finished: now.Add(-time.Hour), events: 1}),
		b.gen(t, docGen{client: "acme-thumbnails", status: "completed", finished: now, images: 1, events: 1}),
	}
	unfinished = []uuid.UUID{
		b.gen(t, docGen{client: "acme-thumbnails", status: "submitted", created: now.Add(-2 * time.Minute), events: 1}),
		b.gen(t, docGen{client: "acme-thumbnails", status: "queued", created: now.Add(-time.Minute)}),
	}
	others = []uuid.UUID{
		b.gen(t, docGen{client: "acme", status: "completed", finished: now.AddDate(-2, 0, 0), images: 1, events: 1}),
		b.gen(t, docGen{client: "beta", status: "completed", finished: now, images: 1, events: 1}),
	}
	return finished, unfinished, others
}

func testUnfinishedOfClient(t *testing.T, b *docBundle, sql string) {
	_, unfinished, _ := seedClients(t, b)
	rows, err := b.pool.Query(b.ctx, sql)
	require.NoError(t, err)
	var got []uuid.UUID
	var statuses []string
	for rows.Next() {
		var id uuid.UUID
		var status string
		var created time.Time
		var submitted *time.Time
		require.NoError(t, rows.Scan(&id, &status, &created, &submitted))
		got, statuses = append(got, id), append(statuses, status)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, unfinished, got, "the client's unfinished generations, oldest first")
	require.Equal(t, []string{"submitted", "queued"}, statuses)
}

func testDeleteClientHistory(t *testing.T, b *docBundle, sql string) {
	finished, unfinished, others := seedClients(t, b)
	timedOut := b.gen(t, docGen{client: "acme-thumbnails", status: "failed", finished: time.Now().AddDate(-1, 0, 0), pendingCancel: true})
	require.Equal(t, []int{3, 0}, b.batches(t, sql))
	for _, id := range finished {
		require.False(t, b.exists(t, id))
		require.Equal(t, map[string]int{"generation_images": 0, "webhook_events": 0, "callback_deliveries": 0, "fal_request_cancels": 0, "polled_results": 0},
			b.children(t, id))
		require.Equal(t, map[string]string{"req-" + id.String(): "acme-thumbnails"}, b.tombstones(t, id))
	}
	for _, id := range unfinished {
		require.True(t, b.exists(t, id), "the client's unfinished generations are left to cancel")
	}
	require.True(t, b.exists(t, timedOut), "a cancel fal has not answered is left for a later run")
	for _, id := range others {
		require.True(t, b.exists(t, id), "other clients' history, a client named alike included, is kept")
		require.Equal(t, 1, b.children(t, id)["webhook_events"])
	}
}

// The override deletes what the trigger refuses, a generation in flight
// with a pending cancel, and records its request ids all the same.
func testUnsafeDelete(t *testing.T, b *docBundle, sql string) {
	id := uuid.MustParse(docGenerationID)
	_, err := b.pool.Exec(b.ctx, `
		INSERT INTO generations (id, client, status, endpoint_id, input, fal_request_id, fal_submissions)
		VALUES ($1, 'alpha', 'submitted', 'fal-ai/fooocus/image-prompt', '{}', 'req-running', 1)`, id)
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `INSERT INTO fal_request_cancels (generation_id, fal_request_id, reason) VALUES ($1, 'req-timed-out', 'timeout')`, id)
	require.NoError(t, err)
	statements := strings.SplitAfter(sql, ";\n")
	require.Len(t, statements, 4, "BEGIN, SET LOCAL, DELETE, COMMIT")

	conn := b.conn(t, nil)
	_, err = conn.Exec(b.ctx, statements[2])
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr, "the DELETE alone is refused")
	require.Equal(t, "23001", pgErr.Code)
	require.Contains(t, pgErr.Message, "generation "+docGenerationID+" is unfinished (status submitted)")
	require.True(t, b.exists(t, id))

	_, err = conn.Exec(b.ctx, sql)
	require.NoError(t, err)
	require.False(t, b.exists(t, id))
	require.Equal(t, map[string]string{"req-running": "alpha", "req-timed-out": "alpha"}, b.tombstones(t, id))
	var setting string
	require.NoError(t, conn.QueryRow(b.ctx, `SELECT coalesce(current_setting('easel.allow_unsafe_delete', true), '')`).Scan(&setting))
	require.Empty(t, setting, "SET LOCAL ends with the transaction")
}

func testDeleteUnknownWebhookEvents(t *testing.T, b *docBundle, sql string) {
	now := time.Now()
	unknown := func(received time.Time) int64 {
		var id int64
		require.NoError(t, b.pool.QueryRow(b.ctx, `
			INSERT INTO webhook_events (generation_id, received_at, fal_request_id, body, body_size, signature_valid, outcome)
			VALUES (NULL, $1, 'stray', 'raw', 3, true, 'unknown_generation') RETURNING id`, received).Scan(&id))
		return id
	}
	oldUnknown := []int64{unknown(now.AddDate(0, 0, -100)), unknown(now.AddDate(0, 0, -95))}
	recentUnknown := unknown(now.AddDate(0, 0, -10))
	oldOfGeneration := b.gen(t, docGen{client: "alpha", status: "completed", finished: now.AddDate(0, 0, -100), events: 1})

	require.Equal(t, []int{2, 0}, b.batches(t, sql))
	require.Zero(t, b.count(t, `SELECT count(*) FROM webhook_events WHERE id = ANY($1)`, oldUnknown))
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM webhook_events WHERE id = $1`, recentUnknown), "within the cutoff")
	require.Equal(t, 1, b.children(t, oldOfGeneration)["webhook_events"], "a generation's deliveries are not touched")
}

func testStripWebhookPayloads(t *testing.T, b *docBundle, sql string) {
	now := time.Now()
	// Ids spread over three ranges of 5,000, in the order received, as
	// identity and received_at give them.
	old := b.gen(t, docGen{client: "alpha", status: "completed", finished: now.AddDate(0, 0, -100), events: 2})
	_, err := b.pool.Exec(b.ctx, `ALTER TABLE webhook_events ALTER COLUMN id RESTART WITH 7000`)
	require.NoError(t, err)
	var oldUnknown int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		INSERT INTO webhook_events (generation_id, received_at, fal_request_id, headers, body, body_size, signature_valid, outcome)
		VALUES (NULL, $1, 'stray', '{"X-Fal-Webhook-Signature": "sig"}', 'raw body', 8, true, 'unknown_generation')
		RETURNING id`, now.AddDate(0, 0, -95)).Scan(&oldUnknown))
	require.EqualValues(t, 7000, oldUnknown)
	_, err = b.pool.Exec(b.ctx, `ALTER TABLE webhook_events ALTER COLUMN id RESTART WITH 12000`)
	require.NoError(t, err)
	recent := b.gen(t, docGen{client: "alpha", status: "completed", finished: now.AddDate(0, 0, -1), events: 1})

	var (
		mu      sync.Mutex
		notices []string
	)
	conn := b.conn(t, func(cfg *pgx.ConnConfig) {
		cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
			mu.Lock()
			defer mu.Unlock()
			notices = append(notices, n.Message)
		}
	})
	type event struct {
		Body     string
		Headers  map[string]string
		BodySize int
	}
	payloads := func(where string, args ...any) []event {
		rows, err := b.pool.Query(b.ctx, `SELECT convert_from(body, 'UTF8'), headers, body_size FROM webhook_events WHERE `+where+` ORDER BY id`, args...)
		require.NoError(t, err)
		events, err := pgx.CollectRows(rows, pgx.RowToStructByPos[event])
		require.NoError(t, err)
		return events
	}
	stripped := event{Body: "", Headers: map[string]string{}, BodySize: 8}
	kept := event{Body: "raw body", Headers: map[string]string{"X-Fal-Webhook-Signature": "sig"}, BodySize: 8}

	for run := range 2 { // a second run finds nothing more to strip
		_, err = conn.Exec(b.ctx, sql)
		require.NoError(t, err, "run %d", run+1)
		require.Equal(t, []event{stripped, stripped}, payloads(`generation_id = $1`, old), "run %d", run+1)
		require.Equal(t, []event{stripped}, payloads(`id = $1`, oldUnknown), "run %d", run+1)
		require.Equal(t, []event{kept}, payloads(`generation_id = $1`, recent), "within the cutoff: run %d", run+1)
		mu.Lock()
		require.Equal(t, []string{"start the next run at next_id := 10000"}, notices,
			"the range holding the first event past the cutoff: run %d", run+1)
		notices = nil
		mu.Unlock()
	}

	// As the doc warns, not inside a transaction block (psql -1, BEGIN).
	tx, err := conn.Begin(b.ctx)
	require.NoError(t, err)
	_, err = tx.Exec(b.ctx, sql)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "2D000", pgErr.Code, "invalid_transaction_termination")
	require.NoError(t, tx.Rollback(b.ctx))
}

// stray stores a signed delivery that named no generation, whole, as a
// replica older than schema version 28 stored a deleted generation's, and
// returns its id.
func (b *docBundle) stray(t *testing.T, requestID string) int64 {
	t.Helper()
	var id int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		INSERT INTO webhook_events (generation_id, fal_request_id, headers, body, body_size, signature_valid, outcome)
		VALUES (NULL, $1, '{"X-Fal-Webhook-Signature": "sig"}', 'raw body', 8, true, 'unknown_generation') RETURNING id`,
		requestID).Scan(&id))
	return id
}

// storedEvent is what a stored delivery keeps of what it received.
type storedEvent struct {
	Body     string
	Headers  map[string]string
	BodySize int
	Outcome  string
}

func (b *docBundle) storedEvents(t *testing.T, where string, args ...any) []storedEvent {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, `SELECT convert_from(body, 'UTF8'), headers, body_size, outcome FROM webhook_events WHERE `+where+` ORDER BY id`, args...)
	require.NoError(t, err)
	events, err := pgx.CollectRows(rows, pgx.RowToStructByPos[storedEvent])
	require.NoError(t, err)
	return events
}

func testStripDeletedGenerationDeliveries(t *testing.T, b *docBundle, sql string) {
	now := time.Now()
	deleted := b.gen(t, docGen{client: "alpha", status: "completed", finished: now.AddDate(0, 0, -1), images: 1, events: 1})
	_, err := b.pool.Exec(b.ctx, `DELETE FROM generations WHERE id = $1`, deleted)
	require.NoError(t, err)
	requestID := "req-" + deleted.String()
	strayOfDeleted := b.stray(t, requestID)
	var bodiless int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		INSERT INTO webhook_events (generation_id, fal_request_id, headers, body, body_size, signature_valid, outcome)
		VALUES (NULL, $1, '{}', '', 8, true, 'deleted_generation') RETURNING id`, requestID).Scan(&bodiless))
	unrelated := b.stray(t, "req-never-seen")
	// Deleted long before the interval.
	_, err = b.pool.Exec(b.ctx, `INSERT INTO deleted_fal_requests (fal_request_id, generation_id, client, deleted_at)
		VALUES ('req-deleted-long-ago', gen_random_uuid(), 'alpha', now() - interval '30 days')`)
	require.NoError(t, err)
	longAgo := b.stray(t, "req-deleted-long-ago")
	kept := b.gen(t, docGen{client: "alpha", status: "completed", finished: now, events: 1})

	for run, want := range []int{1, 0} {
		var stripped int
		require.NoError(t, b.pool.QueryRow(b.ctx, sql).Scan(&stripped))
		require.Equal(t, want, stripped, "run %d", run+1)
	}
	whole := storedEvent{Body: "raw body", Headers: map[string]string{"X-Fal-Webhook-Signature": "sig"}, BodySize: 8, Outcome: "unknown_generation"}
	require.Equal(t, []storedEvent{
		{Body: "", Headers: whole.Headers, BodySize: 8, Outcome: "unknown_generation"},
		{Body: "", Headers: map[string]string{}, BodySize: 8, Outcome: "deleted_generation"},
		whole, whole,
	}, b.storedEvents(t, `id = ANY($1)`, []int64{strayOfDeleted, bodiless, unrelated, longAgo}))
	require.Equal(t, []storedEvent{{Body: "raw body", Headers: whole.Headers, BodySize: 8, Outcome: "applied"}},
		b.storedEvents(t, `generation_id = $1`, kept), "a generation's own deliveries are not touched")
}

func testEraseGeneration(t *testing.T, b *docBundle, sql string) {
	now := time.Now()
	id := b.gen(t, docGen{id: uuid.MustParse(docGenerationID), client: "alpha", status: "completed", finished: now,
		images: 2, nsfwImages: 1, events: 2, callback: true, cancelRequest: true})
	_, err := b.pool.Exec(b.ctx, `
		UPDATE generations SET metadata = '{"user": "ann"}', callback_url = 'https://example.com/cb?user=ann',
			idempotency_key = 'ann-1', request_hash = '\x0102', error_message = 'input echoed: ann.png'
		WHERE id = $1`, id)
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `INSERT INTO polled_results (generation_id, fal_request_id, status, body, outcome)
		VALUES ($1, $2, 'OK', '{"images": [{"url": "https://cdn.example/ann.png"}]}', 'duplicate')`, id, "req-"+id.String())
	require.NoError(t, err)
	stray := b.stray(t, "req-"+id.String())
	// Another generation of the client's, and a delivery for a request
	// Easel never had, are not touched.
	other := b.gen(t, docGen{client: "alpha", status: "completed", finished: now, images: 1, events: 1, callback: true})
	unrelated := b.stray(t, "req-never-seen")
	unfinished := b.gen(t, docGen{client: "alpha", status: "submitted", created: now, events: 1})

	type row struct {
		Status, Client, Input, Metadata, FalRequestID string
		CallbackURL, IdempotencyKey, ErrorMessage     *string
		RequestHash                                   []byte
		ImageCount, NSFWImageCount                    *int
		Finished                                      time.Time
	}
	rowOf := func(id uuid.UUID) row {
		rows, err := b.pool.Query(b.ctx, `
			SELECT status, client, input::text, metadata::text, fal_request_id, callback_url, idempotency_key, error_message,
				request_hash, image_count, nsfw_image_count, coalesce(finished_at, created_at)
			FROM generations WHERE id = $1`, id)
		require.NoError(t, err)
		r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[row])
		require.NoError(t, err)
		return r
	}
	before, otherBefore, unfinishedBefore := rowOf(id), rowOf(other), rowOf(unfinished)
	require.Equal(t, `{"prompt": "a lighthouse"}`, before.Input)
	type printed struct{ Generations, Images, Deliveries, Results, Callbacks int }
	run := func(sql string) printed {
		rows, err := b.pool.Query(b.ctx, sql)
		require.NoError(t, err)
		p, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[printed])
		require.NoError(t, err)
		return p
	}

	require.Equal(t, printed{Generations: 1, Images: 2, Deliveries: 3, Results: 1, Callbacks: 1}, run(sql))
	require.Equal(t, printed{Generations: 1}, run(sql), "run again, it finds nothing more to erase")

	erased := before
	erased.Input, erased.Metadata = "{}", "{}"
	erased.CallbackURL, erased.IdempotencyKey, erased.ErrorMessage, erased.RequestHash = nil, nil, nil, nil
	require.Equal(t, erased, rowOf(id), "what billing and reports read is kept")
	require.Equal(t, map[string]int{"generation_images": 0, "webhook_events": 2, "callback_deliveries": 1, "fal_request_cancels": 1, "polled_results": 1},
		b.children(t, id))
	emptied := storedEvent{Body: "", Headers: map[string]string{"X-Fal-Webhook-Signature": "sig"}, BodySize: 8, Outcome: "applied"}
	require.Equal(t, []storedEvent{emptied, emptied}, b.storedEvents(t, `generation_id = $1`, id), "headers, size and outcome kept")
	strayEmptied := emptied
	strayEmptied.Outcome = "unknown_generation"
	require.Equal(t, []storedEvent{strayEmptied}, b.storedEvents(t, `id = $1`, stray))
	require.Zero(t, b.count(t, `SELECT count(*) FROM polled_results WHERE generation_id = $1 AND body <> ''`, id))
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM callback_deliveries WHERE generation_id = $1 AND url = '' AND delivered_at IS NOT NULL`, id))

	require.Equal(t, otherBefore, rowOf(other))
	require.Equal(t, map[string]int{"generation_images": 1, "webhook_events": 1, "callback_deliveries": 1, "fal_request_cancels": 0, "polled_results": 0},
		b.children(t, other))
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM callback_deliveries WHERE generation_id = $1 AND url <> ''`, other))
	require.Equal(t, []storedEvent{{Body: "raw body", Headers: emptied.Headers, BodySize: 8, Outcome: "unknown_generation"}},
		b.storedEvents(t, `id = $1`, unrelated))

	require.Equal(t, printed{}, run(strings.ReplaceAll(sql, docGenerationID, unfinished.String())), "an unfinished generation is left alone")
	require.Equal(t, unfinishedBefore, rowOf(unfinished))
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM webhook_events WHERE generation_id = $1 AND body <> ''`, unfinished))
}

func testDeletedRequestsOfClient(t *testing.T, b *docBundle, sql string) {
	finished, _, _ := seedClients(t, b)
	answered := b.gen(t, docGen{client: "acme-thumbnails", status: "completed", finished: time.Now().AddDate(-1, 0, 0), cancelRequest: true})
	// A client named alike, deleted too.
	alike := b.gen(t, docGen{client: "acme", status: "completed", finished: time.Now()})
	_, err := b.pool.Exec(b.ctx, `DELETE FROM generations WHERE id = $1`, alike)
	require.NoError(t, err)
	require.Equal(t, []int{4, 0}, b.batches(t, b.blocks["delete_client_history"]))

	type request struct {
		ID         string
		Generation uuid.UUID
		DeletedAt  time.Time
	}
	rows, err := b.pool.Query(b.ctx, sql)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[request])
	require.NoError(t, err)
	want := map[string]uuid.UUID{"superseded-" + answered.String(): answered, "req-" + answered.String(): answered}
	for _, id := range finished {
		want["req-"+id.String()] = id
	}
	gotIDs := map[string]uuid.UUID{}
	for i, r := range got {
		gotIDs[r.ID] = r.Generation
		require.WithinDuration(t, time.Now(), r.DeletedAt, time.Minute)
		if i > 0 {
			require.False(t, r.DeletedAt.Before(got[i-1].DeletedAt), "in the order they were deleted")
		}
	}
	require.Equal(t, want, gotIDs, "every request of the client's deleted generations, and no other client's")
}

func testPruneDeletedFalRequests(t *testing.T, b *docBundle, sql string) {
	_, err := b.pool.Exec(b.ctx, `
		INSERT INTO deleted_fal_requests (fal_request_id, generation_id, client, deleted_at)
		SELECT 'old-' || i, gen_random_uuid(), 'alpha', now() - interval '3 years'
		FROM generate_series(1, 5003) i`)
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `
		INSERT INTO deleted_fal_requests (fal_request_id, generation_id, client, deleted_at)
		VALUES ('recent', gen_random_uuid(), 'alpha', now() - interval '700 days')`)
	require.NoError(t, err)
	deleted := b.gen(t, docGen{client: "beta", status: "completed", finished: time.Now()})
	_, err = b.pool.Exec(b.ctx, `DELETE FROM generations WHERE id = $1`, deleted)
	require.NoError(t, err)

	require.Equal(t, []int{5000, 3, 0}, b.batches(t, sql))
	rows, err := b.pool.Query(b.ctx, `SELECT fal_request_id FROM deleted_fal_requests ORDER BY 1`)
	require.NoError(t, err)
	left, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"recent", "req-" + deleted.String()}, left, "within the two years")
}

func testTableRows(t *testing.T, b *docBundle, sql string) {
	now := time.Now()
	for range 4 {
		b.gen(t, docGen{client: "alpha", status: "completed", finished: now, events: 1})
	}
	_, err := b.pool.Exec(b.ctx, `ANALYZE generations, webhook_events`)
	require.NoError(t, err)
	rows, err := b.pool.Query(b.ctx, sql)
	require.NoError(t, err)
	got := map[string]int64{}
	for rows.Next() {
		var relation, size string
		var n int64
		require.NoError(t, rows.Scan(&relation, &n, &size))
		got[relation] = n
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[string]int64{"generations": 4, "webhook_events": 4}, got)
}

func testLongTransactions(t *testing.T, b *docBundle, sql string) {
	// A session holding a snapshot, as a report running in a transaction.
	holder := b.conn(t, func(cfg *pgx.ConnConfig) { cfg.RuntimeParams["application_name"] = "long-report" })
	tx, err := holder.BeginTx(b.ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	require.NoError(t, err)
	defer func() { require.NoError(t, tx.Rollback(b.ctx)) }()
	_, err = tx.Exec(b.ctx, `SELECT count(*) FROM generations`)
	require.NoError(t, err)

	rows, err := b.pool.Query(b.ctx, sql)
	require.NoError(t, err)
	found, err := pgx.CollectRows(rows, pgx.RowToMap)
	require.NoError(t, err)
	var holders []map[string]any
	for _, r := range found {
		if r["pid"] == int32(holder.PgConn().PID()) {
			holders = append(holders, r)
		}
	}
	require.Len(t, holders, 1, "the session holding a snapshot: %v", found)
	require.Equal(t, "long-report", holders[0]["application_name"])
	require.Equal(t, "idle in transaction", holders[0]["state"])
	require.NotNil(t, holders[0]["transaction_age"])
}

func testBlockedSessions(t *testing.T, b *docBundle, sql string) {
	blocker := b.conn(t, nil)
	waiter := b.conn(t, nil)
	tx, err := blocker.Begin(b.ctx)
	require.NoError(t, err)
	_, err = tx.Exec(b.ctx, `LOCK TABLE generations IN SHARE MODE`) // as 000013's index build
	require.NoError(t, err)

	inserted := make(chan error, 1)
	go func() {
		_, err := waiter.Exec(b.ctx, `INSERT INTO generations (id, client, endpoint_id, input) VALUES (gen_random_uuid(), 'alpha', 'e', '{}')`)
		inserted <- err
	}()

	blockerPID, waiterPID := blocker.PgConn().PID(), waiter.PgConn().PID()
	require.Eventually(t, func() bool {
		rows, err := b.pool.Query(b.ctx, sql)
		if err != nil {
			return false
		}
		found, err := pgx.CollectRows(rows, pgx.RowToMap)
		if err != nil {
			return false
		}
		for _, r := range found {
			if r["pid"] == int32(waiterPID) {
				blockedBy, _ := r["blocked_by"].([]any)
				return len(blockedBy) == 1 && blockedBy[0] == int32(blockerPID) && r["wait_event_type"] == "Lock"
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "the insert waiting for the lock, and who holds it")

	require.NoError(t, tx.Rollback(b.ctx))
	require.NoError(t, <-inserted, "the insert goes on once the lock is released")
}

func testVacuumFullGenerations(t *testing.T, b *docBundle, sql string) {
	now := time.Now()
	for range 3 {
		b.gen(t, docGen{client: "alpha", status: "completed", finished: now, images: 1})
	}
	before := b.filenode(t, "generations")
	_, err := b.pool.Exec(b.ctx, sql)
	require.NoError(t, err)
	require.NotEqual(t, before, b.filenode(t, "generations"), "the table was rewritten")
	require.Equal(t, 3, b.count(t, `SELECT count(*) FROM generations`))
	require.Equal(t, 3, b.count(t, `SELECT count(*) FROM generation_images`))
}

func testAutovacuumSettings(t *testing.T, b *docBundle, sql string) {
	_, err := b.pool.Exec(b.ctx, sql)
	require.NoError(t, err)
	for _, table := range []string{"generations", "webhook_events"} {
		var options []string
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT reloptions FROM pg_class WHERE oid = $1::regclass`, table).Scan(&options))
		require.ElementsMatch(t, []string{"autovacuum_vacuum_scale_factor=0.01", "autovacuum_vacuum_insert_scale_factor=0.01"}, options, table)
	}
}

func testDeadTuples(t *testing.T, b *docBundle, sql string) {
	rows, err := b.pool.Query(b.ctx, sql)
	require.NoError(t, err)
	found, err := pgx.CollectRows(rows, pgx.RowToMap)
	require.NoError(t, err)
	var tables []string
	for _, r := range found {
		tables = append(tables, r["relname"].(string))
	}
	require.ElementsMatch(t, []string{"generations", "webhook_events", "generation_images", "river_job", "inflight_slots",
		"callback_deliveries"}, tables)
}

func testReplicationSlots(t *testing.T, b *docBundle, sql string) {
	rows, err := b.pool.Query(b.ctx, sql)
	require.NoError(t, err)
	_, err = pgx.CollectRows(rows, pgx.RowToMap)
	require.NoError(t, err)
	var columns []string
	for _, f := range rows.FieldDescriptions() {
		columns = append(columns, f.Name)
	}
	require.Equal(t, []string{"slot_name", "slot_type", "active", "xmin", "catalog_xmin", "xmin_age", "catalog_xmin_age"}, columns)
}

func testGenerationsIndexSizes(t *testing.T, b *docBundle, sql string) {
	rows, err := b.pool.Query(b.ctx, sql)
	require.NoError(t, err)
	found, err := pgx.CollectRows(rows, pgx.RowToMap)
	require.NoError(t, err)
	var names []string
	for _, r := range found {
		names = append(names, r["index_name"].(string))
	}
	require.Len(t, names, 10, "docs/DATABASE.md counts 10 indexes on generations in its storage and write-load figures: %v", names)
	require.Contains(t, names, "generations_status_created_at_idx")
	require.Contains(t, names, "generations_finished_idx")
	require.Contains(t, names, "generations_client_created_at_idx")
}

func testReindexStatusCreatedAt(t *testing.T, b *docBundle, sql string) {
	b.gen(t, docGen{client: "alpha", status: "completed", finished: time.Now()})
	before := b.filenode(t, "generations_status_created_at_idx")
	_, err := b.pool.Exec(b.ctx, sql)
	require.NoError(t, err)
	require.NotEqual(t, before, b.filenode(t, "generations_status_created_at_idx"), "the index was rebuilt")
	var valid bool
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT indisvalid FROM pg_index WHERE indexrelid = 'generations_status_created_at_idx'::regclass`).Scan(&valid))
	require.True(t, valid)
	require.Zero(t, b.count(t, `SELECT count(*) FROM pg_class WHERE relname LIKE 'generations_status_created_at_idx_cc%'`))
}

func testWraparoundDatabases(t *testing.T, b *docBundle, sql string) {
	rows, err := b.pool.Query(b.ctx, sql)
	require.NoError(t, err)
	found, err := pgx.CollectRows(rows, pgx.RowToMap)
	require.NoError(t, err)
	var current string
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT current_database()`).Scan(&current))
	var listed bool
	for _, r := range found {
		if r["datname"] == current {
			listed = true
			require.Positive(t, r["xid_age"].(int32))
		}
	}
	require.True(t, listed, "the test's database among %d", len(found))
}

func testWraparoundTables(t *testing.T, b *docBundle, sql string) {
	rows, err := b.pool.Query(b.ctx, sql)
	require.NoError(t, err)
	found, err := pgx.CollectRows(rows, pgx.RowToMap)
	require.NoError(t, err)
	require.Len(t, found, 10, "Easel has more than 10 tables: the 10 oldest")
	rows, err = b.pool.Query(b.ctx, `SELECT relname::text FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace`)
	require.NoError(t, err)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	for _, r := range found {
		require.Contains(t, tables, r["relname"], "only the tables of Easel's schema")
		require.Positive(t, r["xid_age"].(int32), r["relname"])
	}
}

func testConnectionsByClient(t *testing.T, b *docBundle, sql string) {
	for range 2 {
		b.conn(t, func(cfg *pgx.ConnConfig) { cfg.RuntimeParams["application_name"] = "easel-api-1" })
	}
	rows, err := b.pool.Query(b.ctx, sql)
	require.NoError(t, err)
	found, err := pgx.CollectRows(rows, pgx.RowToMap)
	require.NoError(t, err)
	var named int64
	for _, r := range found {
		if r["application_name"] == "easel-api-1" {
			require.Equal(t, "idle", r["state"])
			named += r["connections"].(int64)
		}
	}
	require.EqualValues(t, 2, named, "the two sessions named easel-api-1: %v", found)
}

func testAnalystRole(t *testing.T, b *docBundle, sql string) {
	require.ElementsMatch(t, []string{"statement_timeout=5min", "idle_in_transaction_session_timeout=10min"},
		b.roleSettings(t, "analyst", sql))
}

func testEaselRole(t *testing.T, b *docBundle, sql string) {
	settings := b.roleSettings(t, "easel", sql)
	require.Contains(t, settings, "idle_in_transaction_session_timeout=1min")
}

func testDailyRollupTable(t *testing.T, b *docBundle, sql string) {
	for range 2 { // IF NOT EXISTS: safe to run again
		_, err := b.pool.Exec(b.ctx, sql)
		require.NoError(t, err)
	}
	require.Zero(t, b.count(t, `SELECT count(*) FROM reporting.daily_client_usage`))
	var easelSchema bool
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT to_regclass('daily_client_usage') IS NOT NULL`).Scan(&easelSchema))
	require.False(t, easelSchema, "outside Easel's schema")

	// A table made by the block before it counted unknown NSFW flags
	// gains the column, its rows reading 0, so that the rollup runs on it.
	_, err := b.pool.Exec(b.ctx, `
		DROP TABLE reporting.daily_client_usage;
		CREATE TABLE reporting.daily_client_usage (day date NOT NULL, client text NOT NULL, completed bigint NOT NULL,
			failed bigint NOT NULL, cancelled bigint NOT NULL, images bigint NOT NULL, nsfw_images bigint NOT NULL,
			PRIMARY KEY (day, client));
		INSERT INTO reporting.daily_client_usage VALUES ('2026-01-01', 'alpha', 1, 0, 0, 2, 1)`)
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, sql)
	require.NoError(t, err)
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM reporting.daily_client_usage WHERE nsfw_unknown_generations = 0`))
}

func testDailyRollup(t *testing.T, b *docBundle, sql string) {
	_, err := b.pool.Exec(b.ctx, b.blocks["daily_rollup_table"])
	require.NoError(t, err)
	var today time.Time
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT date_trunc('day', now(), 'UTC')`).Scan(&today))
	yesterday := today.AddDate(0, 0, -1)
	at := func(day time.Time, hour int) time.Time { return day.Add(time.Duration(hour) * time.Hour) }

	b.gen(t, docGen{client: "alpha", status: "completed", finished: at(yesterday, 0), images: 2, nsfwImages: 1})
	b.gen(t, docGen{client: "alpha", status: "completed", finished: at(yesterday, 23), images: 4})
	// A flag unknown: counted as an image and as unknown, never as clean.
	b.gen(t, docGen{client: "alpha", status: "completed", finished: at(yesterday, 2), images: 3, nsfwImages: 1, unknownNSFW: 1})
	b.gen(t, docGen{client: "beta", status: "completed", finished: at(yesterday, 3), images: 1, unknownNSFW: 1})
	b.gen(t, docGen{client: "alpha", status: "failed", finished: at(yesterday, 12)})
	b.gen(t, docGen{client: "beta", status: "cancelled", finished: at(yesterday, 1)})
	// Outside yesterday: today's, the day before's, and unfinished ones.
	b.gen(t, docGen{client: "alpha", status: "completed", finished: today, images: 1})
	b.gen(t, docGen{client: "alpha", status: "completed", finished: today.Add(-time.Microsecond - 24*time.Hour), images: 1})
	b.gen(t, docGen{client: "alpha", status: "queued", created: at(yesterday, 5)})

	type usage struct {
		Day                                              string
		Client                                           string
		Completed, Failed, Cancelled, Images, NsfwImages int64
		NsfwUnknownGenerations                           int64
	}
	day := yesterday.Format(time.DateOnly)
	want := []usage{
		{Day: day, Client: "alpha", Completed: 3, Failed: 1, Images: 9, NsfwImages: 1, NsfwUnknownGenerations: 1},
		{Day: day, Client: "beta", Completed: 1, Cancelled: 1, Images: 1, NsfwUnknownGenerations: 1},
	}
	for run := range 2 { // a second run rewrites the same rows
		_, err := b.pool.Exec(b.ctx, sql)
		require.NoError(t, err, "run %d", run+1)
		rows, err := b.pool.Query(b.ctx, `
			SELECT day::text, client, completed, failed, cancelled, images, nsfw_images, nsfw_unknown_generations
			FROM reporting.daily_client_usage ORDER BY day, client`)
		require.NoError(t, err)
		got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[usage])
		require.NoError(t, err)
		require.Equal(t, want, got, "run %d", run+1)
	}
}

// docIndex is an index of Easel's the doc names.
var docIndex = regexp.MustCompile(`\b(?:generations|webhook_events|generation_images|fal_request_cancels|inflight_slots|deleted_fal_requests)_[a-z_]+_idx\b`)

// TestDatabaseDocIndexesExist fails when docs/DATABASE.md names an index
// that Easel's schema does not have (renamed or dropped by a migration), so
// that what the doc says a statement reads is there to read.
func TestDatabaseDocIndexesExist(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/DATABASE.md")
	require.NoError(t, err)
	named := docIndex.FindAllString(string(doc), -1)
	require.Contains(t, named, "generations_finished_idx")

	b := setupDoc(t, nil)
	rows, err := b.pool.Query(b.ctx, `SELECT indexrelid::regclass::text FROM pg_index`)
	require.NoError(t, err)
	indexes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	for _, name := range named {
		require.Contains(t, indexes, name, "docs/DATABASE.md names index %s", name)
	}
}

// filenode is the file of relation rel, which a rewrite (VACUUM FULL,
// REINDEX) changes.
func (b *docBundle) filenode(t *testing.T, rel string) uint32 {
	t.Helper()
	var n uint32
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT pg_relation_filenode($1::regclass)`, rel).Scan(&n))
	return n
}

// webhookEvent stores a signed delivery of request with outcome, received
// at, for generation (nil: at no generation's URL), and returns its id.
func (b *docBundle) webhookEvent(t *testing.T, generation *uuid.UUID, request, outcome string, at time.Time) int64 {
	t.Helper()
	var id int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		INSERT INTO webhook_events (generation_id, received_at, fal_request_id, body, body_size, signature_valid, outcome)
		VALUES ($1, $2, $3, 'raw body', 8, true, $4) RETURNING id`, generation, at, request, outcome).Scan(&id))
	return id
}

// queued stores a queued generation due at due (created then, or earlier
// with run_at then), with submissions counted and confirmed.
func (b *docBundle) queued(t *testing.T, created, runAt time.Time, submissions, confirmed int) uuid.UUID {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	var run any
	if !runAt.IsZero() {
		run = runAt
	}
	_, err := b.pool.Exec(b.ctx, `
		INSERT INTO generations (id, client, status, endpoint_id, input, created_at, run_at, fal_submissions, fal_submissions_confirmed)
		VALUES ($1, 'alpha', 'queued', 'fal-ai/fooocus/image-prompt', '{}', $2, $3, $4, $5)`, id, created, run, submissions, confirmed)
	require.NoError(t, err)
	return id
}

// The restored database's latest enqueue and webhook delivery, the id
// later deliveries are counted from.
func testRestorePoint(t *testing.T, b *docBundle, sql string) {
	type point struct {
		LastEnqueuedAt     *time.Time
		LastWebhookEventID *int64
		LastWebhookAt      *time.Time
	}
	read := func() point {
		t.Helper()
		rows, err := b.pool.Query(b.ctx, sql)
		require.NoError(t, err)
		p, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[point])
		require.NoError(t, err)
		return p
	}
	require.Equal(t, point{}, read(), "an empty database: one row, of NULLs")

	restorePoint := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	latest := b.gen(t, docGen{client: "alpha", status: "submitted", created: restorePoint.Add(-time.Minute)})
	b.gen(t, docGen{client: "beta", status: "completed", finished: restorePoint.Add(-time.Hour), created: restorePoint.Add(-2 * time.Hour)})
	b.webhookEvent(t, &latest, "req-a", "applied", restorePoint.Add(-3*time.Minute))
	last := b.webhookEvent(t, nil, "req-b", "unknown_generation", restorePoint.Add(-2*time.Minute))

	p := read()
	require.NotNil(t, p.LastEnqueuedAt)
	require.True(t, restorePoint.Add(-time.Minute).Equal(*p.LastEnqueuedAt))
	require.Equal(t, &last, p.LastWebhookEventID)
	require.NotNil(t, p.LastWebhookAt)
	require.True(t, restorePoint.Add(-2*time.Minute).Equal(*p.LastWebhookAt))

	// Deliveries received after the restart come after it.
	after := b.webhookEvent(t, nil, "req-c", "unknown_generation", time.Now())
	require.Greater(t, after, last)
}

// What start-up will submit: every queued generation, due first first,
// the ones whose submission's answer was lost told apart; none that is
// submitted or finished.
func testRestoreAtRisk(t *testing.T, b *docBundle, sql string) {
	restorePoint := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	lostAnswer := b.queued(t, restorePoint.Add(-3*time.Hour), time.Time{}, 1, 0)
	due := b.queued(t, restorePoint.Add(-time.Minute), time.Time{}, 0, 0)
	scheduled := b.queued(t, restorePoint.Add(-4*time.Hour), restorePoint.Add(time.Hour), 0, 0)
	b.gen(t, docGen{client: "alpha", status: "submitted", created: restorePoint.Add(-5 * time.Hour)})
	b.gen(t, docGen{client: "alpha", status: "completed", finished: restorePoint.Add(-time.Hour)})

	type atRisk struct {
		ID                      uuid.UUID
		Client                  string
		DueAt                   time.Time
		FalSubmissions          int
		FalSubmissionsConfirmed int
		AtStartUp               string
	}
	rows, err := b.pool.Query(b.ctx, sql)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[atRisk])
	require.NoError(t, err)
	var ids, notes []string
	for _, r := range got {
		ids, notes = append(ids, r.ID.String()), append(notes, r.AtStartUp)
	}
	require.Equal(t, []string{lostAnswer.String(), due.String(), scheduled.String()}, ids, "the queued ones, by when they are due")
	require.Equal(t, []string{
		"a submission's answer was lost: submitted again unless its webhook comes first",
		"submitted at start-up, or when due",
		"submitted at start-up, or when due",
	}, notes)
	require.True(t, restorePoint.Add(time.Hour).Equal(got[2].DueAt), "due at its run_at")
	require.Equal(t, 1, got[0].FalSubmissions)
	require.Zero(t, got[0].FalSubmissionsConfirmed)
}

// The requests fal ran that a restore lost or had submitted again: the
// unknown_generation and mismatched_request deliveries since the restore
// point, one row per request however often fal delivered it; none from
// before, none of another outcome. The primary key variant the doc gives
// finds the same.
func testRestoreLostRequests(t *testing.T, b *docBundle, sql string) {
	const printed = "'2025-06-01 12:00:00+00'"
	require.Contains(t, sql, printed)
	restorePoint := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	at := func(d time.Duration) time.Time { return restorePoint.Add(d) }

	resubmitted := b.queued(t, at(-time.Hour), time.Time{}, 1, 1)
	_, err := b.pool.Exec(b.ctx, `UPDATE generations SET status = 'submitted', fal_request_id = 'req-new', submitted_at = $2 WHERE id = $1`,
		resubmitted, at(time.Minute))
	require.NoError(t, err)
	polled := b.gen(t, docGen{client: "beta", status: "completed", finished: at(2 * time.Minute), created: at(-2 * time.Hour)})
	// Before the restore point: kept, not listed.
	b.webhookEvent(t, nil, "req-before", "unknown_generation", at(-time.Minute))
	lastBefore := b.webhookEvent(t, &resubmitted, "req-replayed-before", "mismatched_request", at(-time.Second))
	// After the restart.
	b.webhookEvent(t, nil, "req-lost", "unknown_generation", at(10*time.Minute))
	b.webhookEvent(t, nil, "req-lost", "unknown_generation", at(20*time.Minute))
	b.webhookEvent(t, &resubmitted, "req-old", "mismatched_request", at(15*time.Minute))
	b.webhookEvent(t, &polled, "req-"+polled.String(), "applied", at(16*time.Minute))
	b.webhookEvent(t, &polled, "req-"+polled.String(), "duplicate", at(17*time.Minute))
	b.webhookEvent(t, nil, "req-gone", "deleted_generation", at(18*time.Minute))

	type lost struct {
		FalRequestID    string
		Outcome         string
		GenerationID    *uuid.UUID
		Client          *string
		Status          *string
		FirstReceivedAt time.Time
		Deliveries      int64
	}
	alpha, submitted := "alpha", "submitted"
	want := []lost{
		{FalRequestID: "req-lost", Outcome: "unknown_generation", FirstReceivedAt: at(10 * time.Minute), Deliveries: 2},
		{FalRequestID: "req-old", Outcome: "mismatched_request", GenerationID: &resubmitted, Client: &alpha, Status: &submitted,
			FirstReceivedAt: at(15 * time.Minute), Deliveries: 1},
	}
	for _, variant := range []struct{ name, sql string }{
		{"as printed, from the restore point", strings.Replace(sql, printed, "'"+restorePoint.Format(time.RFC3339)+"'", 1)},
		{"from the last delivery before the restart", strings.Replace(sql, "w.received_at >= "+printed, fmt.Sprintf("w.id > %d", lastBefore), 1)},
	} {
		require.NotEqual(t, sql, variant.sql, variant.name)
		rows, err := b.pool.Query(b.ctx, variant.sql)
		require.NoError(t, err, variant.name)
		got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[lost])
		require.NoError(t, err, variant.name)
		for i := range got {
			got[i].FirstReceivedAt = got[i].FirstReceivedAt.UTC()
		}
		require.Equal(t, want, got, variant.name)
	}
}
