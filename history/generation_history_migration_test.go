package history_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/migrations"
)

// viewState is what migration 000022 changes about generation_history: its
// definition and the comments analysts read with \d+.
type viewState struct {
	Definition      string
	ViewComment     *string
	AttemptsComment *string
	// SubmittedComment is the comment on generations.submitted_at.
	SubmittedComment *string
}

func readViewState(t *testing.T, url string) viewState {
	t.Helper()
	ctx := context.Background()
	// A connection of its own each time: one that prepared a query on the
	// view before it was replaced would find its plan stale.
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var s viewState
	require.NoError(t, conn.QueryRow(ctx, `
		SELECT pg_get_viewdef('generation_history'::regclass),
		       obj_description('generation_history'::regclass, 'pg_class'),
		       col_description('generations'::regclass, (SELECT attnum FROM pg_attribute
		           WHERE attrelid = 'generations'::regclass AND attname = 'attempts')),
		       col_description('generations'::regclass, (SELECT attnum FROM pg_attribute
		           WHERE attrelid = 'generations'::regclass AND attname = 'submitted_at'))`).
		Scan(&s.Definition, &s.ViewComment, &s.AttemptsComment, &s.SubmittedComment))
	return s
}

// Migration 000022 appends fal_submissions_confirmed to generation_history,
// so that the requests fal may have billed beyond the recorded one can be
// counted from the view, says in comments what the misread columns count,
// and clears the submitted_at that a submit's answer recorded after its
// generation finished had stamped later than the finish. Down restores the
// view and the comments exactly as they were.
func TestGenerationHistoryMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.URL(t)
	latest, err := migrations.Latest()
	require.NoError(t, err)
	require.NoError(t, migrations.Down(ctx, url, nil, int(latest-21)))
	before := readViewState(t, url)
	require.NotContains(t, before.Definition, "fal_submissions_confirmed")

	const (
		finishedFirst = "01a214de-0000-7000-8000-000000000021" // its webhook came 2 s before the submit's answer
		answeredFirst = "01a214de-0000-7000-8000-000000000022"
	)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `
		INSERT INTO generations (id, client, status, endpoint_id, input, created_at, submitted_at, completed_at,
			finished_at, attempts, fal_submissions, fal_submissions_confirmed)
		VALUES ('`+finishedFirst+`', 'tests', 'completed', 'fal-ai/fooocus/image-prompt', '{}', '2026-11-26 05:21:24.846+00',
			'2026-11-26 05:21:26.884+00', '2026-11-26 05:21:24.883+00', '2026-11-26 05:21:24.883+00', 1, 1, 1),
		       ('`+answeredFirst+`', 'tests', 'completed', 'fal-ai/fooocus/image-prompt', '{}', '2026-11-26 05:21:24+00',
			'2026-11-26 05:21:25+00', '2026-11-26 05:21:30+00', '2026-11-26 05:21:30+00', 3, 2, 1)`)
	require.NoError(t, err)
	conn.Close(ctx)

	require.NoError(t, migrations.Up(ctx, url, nil))
	after := readViewState(t, url)
	require.NotNil(t, after.ViewComment)
	require.Contains(t, *after.ViewComment, "fal_submissions - fal_submissions_confirmed")
	require.NotNil(t, after.AttemptsComment)
	require.Contains(t, *after.AttemptsComment, "including ones fal refused")
	require.NotNil(t, after.SubmittedComment)

	type historyRow struct {
		ID                      string
		SubmittedAt             *string
		FalSeconds              *float64
		FalSubmissions          int
		FalSubmissionsConfirmed int
	}
	conn, err = pgx.Connect(ctx, url)
	require.NoError(t, err)
	rows, err := conn.Query(ctx, `
		SELECT id::text, (submitted_at AT TIME ZONE 'UTC')::text, fal_seconds, fal_submissions, fal_submissions_confirmed
		FROM generation_history ORDER BY id`)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[historyRow])
	require.NoError(t, err)
	conn.Close(ctx)
	submitted, falSeconds := "2026-11-26 05:21:25", 5.0
	require.Equal(t, []historyRow{
		{ID: finishedFirst, FalSubmissions: 1, FalSubmissionsConfirmed: 1},
		{ID: answeredFirst, SubmittedAt: &submitted, FalSeconds: &falSeconds, FalSubmissions: 2, FalSubmissionsConfirmed: 1},
	}, got)

	// Back to 000021, whatever migrations came after 000022.
	require.NoError(t, migrations.Down(ctx, url, nil, int(latest-21)))
	require.Equal(t, before, readViewState(t, url), "down restores the view and the comments")
	require.NoError(t, migrations.Up(ctx, url, nil))
	require.Equal(t, after, readViewState(t, url))
}
