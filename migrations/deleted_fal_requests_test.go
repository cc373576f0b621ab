package migrations_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/migrations"
)

// deletedRequestsState is what 000028 changes that \d+ shows.
type deletedRequestsState struct {
	Table          bool
	Indexes        []string
	DeleteTriggers []string
	OutcomeComment string
}

func deletedRequestsStateOf(t *testing.T, conn *pgx.Conn) deletedRequestsState {
	t.Helper()
	ctx := context.Background()
	var s deletedRequestsState
	require.NoError(t, conn.QueryRow(ctx, `SELECT to_regclass('deleted_fal_requests') IS NOT NULL,
		coalesce(col_description('webhook_events'::regclass,
			(SELECT attnum FROM pg_attribute WHERE attrelid = 'webhook_events'::regclass AND attname = 'outcome')), '')`).
		Scan(&s.Table, &s.OutcomeComment))
	rows, err := conn.Query(ctx, `SELECT indexname FROM pg_indexes
		WHERE schemaname = current_schema() AND tablename = 'deleted_fal_requests' ORDER BY 1`)
	require.NoError(t, err)
	s.Indexes, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	// tgtype bit 3 (8) is DELETE; the internal ones are the references'.
	rows, err = conn.Query(ctx, `SELECT tgname FROM pg_trigger
		WHERE tgrelid = 'generations'::regclass AND NOT tgisinternal AND tgtype & 8 <> 0 ORDER BY 1`)
	require.NoError(t, err)
	s.DeleteTriggers, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return s
}

// insertGeneration inserts a generation of client "tests" with the given
// status (finished when terminal), request and gateway ids, and returns
// its id.
func insertGeneration(t *testing.T, conn *pgx.Conn, status, requestID, gatewayID string) uuid.UUID {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	_, err := conn.Exec(context.Background(), `
		INSERT INTO generations (id, client, endpoint_id, input, status, fal_request_id, fal_gateway_request_id, fal_submissions, finished_at)
		VALUES ($1, 'tests', 'fal-ai/fooocus/image-prompt', '{"prompt": "a face"}', $2, NULLIF($3, ''), NULLIF($4, ''), 1,
			CASE WHEN $2 IN ('completed', 'failed', 'cancelled') THEN now() END)`,
		id, status, requestID, gatewayID)
	require.NoError(t, err)
	return id
}

// tombstones are deleted_fal_requests' rows of generation id: request id
// to client.
func tombstones(t *testing.T, conn *pgx.Conn, id uuid.UUID) map[string]string {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT fal_request_id, client FROM deleted_fal_requests WHERE generation_id = $1`, id)
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

// Migration 000028 adds deleted_fal_requests, the trigger that fills it
// and guards deletions, and the deleted_generation outcome's comment;
// additive, it leaves oldest_compatible_version. Down drops them and puts
// back the row and the comment it found.
func TestDeletedFalRequestsMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.URL(t)
	latest, err := migrations.Latest()
	require.NoError(t, err)
	conn := connectTo(t, url)
	migrated := compatibilityOf(t, url)
	// Down to 27, below 000028 and whatever came after it.
	toBefore := int(latest) - 27

	require.NoError(t, migrations.Down(ctx, url, nil, toBefore))
	before := deletedRequestsStateOf(t, conn)
	require.Equal(t, deletedRequestsState{Indexes: []string{}, DeleteTriggers: []string{}, OutcomeComment: before.OutcomeComment}, before)
	require.NotContains(t, before.OutcomeComment, "deleted_generation")
	previous := compatibilityOf(t, url)
	require.Equal(t, int64(27), previous.schemaVersion)

	require.NoError(t, migrations.Up(ctx, url, nil))
	after := deletedRequestsStateOf(t, conn)
	require.Equal(t, deletedRequestsState{
		Table: true,
		Indexes: []string{"deleted_fal_requests_client_idx", "deleted_fal_requests_deleted_at_idx",
			"deleted_fal_requests_generation_id_idx", "deleted_fal_requests_pkey"},
		DeleteTriggers: []string{"generations_before_delete"},
		OutcomeComment: after.OutcomeComment,
	}, after)
	require.Contains(t, after.OutcomeComment, "unknown_generation (signed, for a generation id that does not exist; generation_id is null), ")
	require.Contains(t, after.OutcomeComment, "deleted_generation (signed, for a generation that was deleted")
	require.Equal(t, compatibilityRow{found: true, schemaVersion: int64(latest), oldest: previous.oldest}, compatibilityOf(t, url),
		"additive: older binaries never delete generations")
	require.Equal(t, migrated, compatibilityOf(t, url))
	var comment string
	require.NoError(t, conn.QueryRow(ctx, `SELECT obj_description('deleted_fal_requests'::regclass, 'pg_class')`).Scan(&comment))
	require.Contains(t, comment, "Request ids are not personal data: they are what fal's invoice names")

	id := insertGeneration(t, conn, "completed", "req-1", "")
	_, err = conn.Exec(ctx, `DELETE FROM generations WHERE id = $1`, id)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"req-1": "tests"}, tombstones(t, conn, id))

	require.NoError(t, migrations.Down(ctx, url, nil, toBefore))
	require.Equal(t, before, deletedRequestsStateOf(t, conn), "down restores the comment, and drops the table and trigger")
	require.Equal(t, previous, compatibilityOf(t, url))
	unfinished := insertGeneration(t, conn, "submitted", "req-2", "")
	_, err = conn.Exec(ctx, `DELETE FROM generations WHERE id = $1`, unfinished)
	require.NoError(t, err, "nothing guards deletions below 28")

	require.NoError(t, migrations.Up(ctx, url, nil))
	require.Equal(t, after, deletedRequestsStateOf(t, conn))
}

// Deleting a generation records every request id of it that fal may bill,
// or hold data of, with its client: its request and gateway request, those
// of its cancels and fetched results, and those its signed webhooks
// reported on. Its other
// rows go with it; a cancel Easel itself deletes leaves no tombstone.
func TestDeletedFalRequestsTombstones(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := connectTo(t, dbtest.URL(t))

	id := insertGeneration(t, conn, "completed", "req-1", "gw-1")
	_, err := conn.Exec(ctx, `
		INSERT INTO fal_request_cancels (generation_id, fal_request_id, reason, answer, answered_at, attempted_at)
		VALUES ($1, 'req-superseded', 'superseded', 'ALREADY_COMPLETED', now(), 'infinity'),
			($1, 'req-1', 'timeout', 'ALREADY_COMPLETED', now(), 'infinity')`, id)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `
		INSERT INTO webhook_events (generation_id, fal_request_id, body, body_size, signature_valid, outcome)
		VALUES ($1, 'req-1', 'x', 1, true, 'applied'),
			($1, 'req-lost', 'x', 1, true, 'duplicate'),
			($1, 'req-late', 'x', 1, true, 'late'),
			($1, 'req-other-account', 'x', 1, true, 'mismatched_request'),
			($1, 'req-forged', 'x', 1, false, 'bad_signature'),
			($1, NULL, 'x', 1, true, 'malformed')`, id)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `INSERT INTO polled_results (generation_id, fal_request_id, status, body, outcome)
		VALUES ($1, 'req-polled', 'OK', '{}', 'duplicate')`, id)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `INSERT INTO generation_images (generation_id, position, url) VALUES ($1, 0, 'https://cdn.example/face.png')`, id)
	require.NoError(t, err)

	// The generation's own request whose result then finished it drops a
	// pending cancel (store.TakeResultRequest): not a deletion of the
	// generation.
	kept := insertGeneration(t, conn, "completed", "req-9", "")
	_, err = conn.Exec(ctx, `INSERT INTO fal_request_cancels (generation_id, fal_request_id, reason) VALUES ($1, 'req-9', 'timeout')`, kept)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `DELETE FROM fal_request_cancels WHERE generation_id = $1`, kept)
	require.NoError(t, err)
	require.Empty(t, tombstones(t, conn, kept))

	tag, err := conn.Exec(ctx, `DELETE FROM generations WHERE id = $1`, id)
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected())
	require.Equal(t, map[string]string{"req-1": "tests", "gw-1": "tests", "req-superseded": "tests", "req-polled": "tests",
		"req-lost": "tests", "req-late": "tests"},
		tombstones(t, conn, id), "not another account's request, nor a forged one")
	var children int
	require.NoError(t, conn.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM fal_request_cancels WHERE generation_id = $1)
			+ (SELECT count(*) FROM webhook_events WHERE generation_id = $1)
			+ (SELECT count(*) FROM polled_results WHERE generation_id = $1)
			+ (SELECT count(*) FROM generation_images WHERE generation_id = $1)`, id).Scan(&children))
	require.Zero(t, children, "the generation's rows go with it")

	// A generation never submitted has no request to record.
	queued := insertGeneration(t, conn, "cancelled", "", "")
	_, err = conn.Exec(ctx, `DELETE FROM generations WHERE id = $1`, queued)
	require.NoError(t, err)
	require.Empty(t, tombstones(t, conn, queued))
}

// A deletion that would leave fal running, and billing, a request nobody
// records or cancels is refused, naming the generation and what to do,
// unless the deleting transaction sets easel.allow_unsafe_delete; such a
// deletion is recorded all the same.
func TestGenerationDeleteGuard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.URL(t)

	tests := []struct {
		name   string
		status string
		cancel string // "", "pending" or "answered"
		// wantRefused is a part of the refusal's message, CANCEL standing
		// for the cancel's request id; "" when the deletion is allowed
		// without the override.
		wantRefused string
	}{
		{name: "queued", status: "queued", wantRefused: "is unfinished (status queued)"},
		{name: "submitted", status: "submitted", wantRefused: "is unfinished (status submitted)"},
		{name: "submitted, its timeout's cancel pending", status: "submitted", cancel: "pending", wantRefused: "is unfinished (status submitted)"},
		{name: "failed, its timeout's cancel pending", status: "failed", cancel: "pending", wantRefused: "has a cancel of fal request CANCEL that fal has not answered"},
		{name: "failed, its timeout's cancel answered", status: "failed", cancel: "answered"},
		{name: "completed", status: "completed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn := connectTo(t, url)
			// Unique: the subtests share a database, and deleted_fal_requests.
			requestID, cancelID := "req-"+uuid.NewString(), "req-cancel-"+uuid.NewString()
			id := insertGeneration(t, conn, tt.status, requestID, "")
			switch tt.cancel {
			case "pending":
				_, err := conn.Exec(ctx, `INSERT INTO fal_request_cancels (generation_id, fal_request_id, reason) VALUES ($1, $2, 'timeout')`, id, cancelID)
				require.NoError(t, err)
			case "answered":
				_, err := conn.Exec(ctx, `INSERT INTO fal_request_cancels (generation_id, fal_request_id, reason, answer, answered_at, attempted_at)
					VALUES ($1, $2, 'timeout', 'CANCELLATION_REQUESTED', now(), 'infinity')`, id, cancelID)
				require.NoError(t, err)
			}
			exists := func() bool {
				var n int
				require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM generations WHERE id = $1`, id).Scan(&n))
				return n == 1
			}

			_, err := conn.Exec(ctx, `DELETE FROM generations WHERE id = $1`, id)
			if tt.wantRefused == "" {
				require.NoError(t, err)
				require.False(t, exists())
				want := map[string]string{requestID: "tests"}
				if tt.cancel != "" {
					want[cancelID] = "tests"
				}
				require.Equal(t, want, tombstones(t, conn, id))
				return
			}
			var pgErr *pgconn.PgError
			require.True(t, errors.As(err, &pgErr), "%v", err)
			require.Equal(t, "23001", pgErr.Code, "restrict_violation")
			require.Contains(t, pgErr.Message, "generation "+id.String()+" ")
			require.Contains(t, pgErr.Message, strings.ReplaceAll(tt.wantRefused, "CANCEL", cancelID))
			require.Contains(t, pgErr.Hint, "SET LOCAL easel.allow_unsafe_delete = on")
			require.True(t, exists())
			require.Empty(t, tombstones(t, conn, id), "nothing recorded")

			// Another value, or the setting of an earlier transaction, is
			// no override.
			for _, statements := range [][]string{
				{`BEGIN`, `SET LOCAL easel.allow_unsafe_delete = 'true'`},
				{`BEGIN`, `SET LOCAL easel.allow_unsafe_delete = on`, `COMMIT`},
			} {
				for _, s := range statements {
					_, err := conn.Exec(ctx, s)
					require.NoError(t, err)
				}
				_, err = conn.Exec(ctx, `DELETE FROM generations WHERE id = $1`, id)
				require.ErrorAs(t, err, &pgErr)
				require.Equal(t, "23001", pgErr.Code, "%v", statements)
				_, err = conn.Exec(ctx, `ROLLBACK`) // outside a transaction, a warning
				require.NoError(t, err)
			}
			require.True(t, exists())

			tx, err := conn.Begin(ctx)
			require.NoError(t, err)
			_, err = tx.Exec(ctx, `SET LOCAL easel.allow_unsafe_delete = on`)
			require.NoError(t, err)
			_, err = tx.Exec(ctx, `DELETE FROM generations WHERE id = $1`, id)
			require.NoError(t, err)
			require.NoError(t, tx.Commit(ctx))
			require.False(t, exists())
			want := map[string]string{requestID: "tests"}
			if tt.cancel != "" {
				want[cancelID] = "tests"
			}
			require.Equal(t, want, tombstones(t, conn, id), "an unsafe deletion is recorded all the same")
		})
	}
}
