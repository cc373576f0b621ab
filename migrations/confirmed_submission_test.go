package migrations_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/migrations"
)

// Migration 000020 sets back to 1 the generations an older binary confirmed
// twice, so that they can still be finished, and from then on the database
// refuses a second confirmed submission; down lifts the check.
func TestConfirmedSubmissionAtMostOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := migratedTo(t, 19)

	const (
		twice = "01a214de-0000-7000-8000-000000000011" // in flight, one answer counted twice
		once  = "01a214de-0000-7000-8000-000000000012"
	)
	exec(t, url,
		`INSERT INTO generations (id, client, endpoint_id, input, status, fal_request_id, submitting_at, attempts,
			fal_submissions, fal_submissions_confirmed)
		VALUES ('`+twice+`', 'tests', 'fal-ai/fooocus/image-prompt', '{}', 'submitted', 'req-1', now(), 2, 2, 2),
			('`+once+`', 'tests', 'fal-ai/fooocus/image-prompt', '{}', 'submitted', 'req-2', now(), 1, 1, 1)`)
	require.NoError(t, migrations.Up(ctx, url, nil))

	conn := connectTo(t, url)
	confirmed := func(id string) int {
		t.Helper()
		var n int
		require.NoError(t, conn.QueryRow(ctx, `SELECT fal_submissions_confirmed FROM generations WHERE id = $1`, id).Scan(&n))
		return n
	}
	require.Equal(t, 1, confirmed(twice), "set back to the one submission it confirmed")
	require.Equal(t, 1, confirmed(once))

	_, err := conn.Exec(ctx, `UPDATE generations SET status = 'completed', finished_at = now(), completed_at = now() WHERE id = $1`, twice)
	require.NoError(t, err, "a repaired row can still be finished")

	_, err = conn.Exec(ctx, `UPDATE generations SET fal_submissions_confirmed = 2 WHERE id = $1`, once)
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr), "refused: %v", err)
	require.Equal(t, "23514", pgErr.Code, "check_violation")
	require.Equal(t, "generations_confirmed_submission_at_most_one", pgErr.ConstraintName)
	require.Equal(t, 1, confirmed(once))

	latest, err := migrations.Latest()
	require.NoError(t, err)
	require.NoError(t, migrations.Down(ctx, url, nil, int(latest-19)))
	version, _, err := migrations.CurrentVersion(ctx, url)
	require.NoError(t, err)
	require.Equal(t, uint(19), version)
	_, err = conn.Exec(ctx, `UPDATE generations SET fal_submissions_confirmed = 2 WHERE id = $1`, once)
	require.NoError(t, err, "down drops the check")
}
