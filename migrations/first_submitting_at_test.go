package migrations_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/migrations"
)

// Migration 000019 gives every generation submitted before it the start of
// its latest submission as its first, the best it knows, so that the
// reconciler still times out those in flight; one never submitted has none.
func TestFirstSubmittingAtBackfill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.URL(t)
	latest, err := migrations.Latest()
	require.NoError(t, err)
	require.NoError(t, migrations.Down(ctx, url, nil, int(latest-18)))
	version, _, err := migrations.CurrentVersion(ctx, url)
	require.NoError(t, err)
	require.Equal(t, uint(18), version, "just before 000019")

	submittingAt := time.Date(2026, 11, 25, 21, 4, 0, 0, time.UTC)
	exec(t, url,
		`INSERT INTO generations (id, client, endpoint_id, input, submitting_at, attempts, fal_submissions)
		VALUES ('01a214de-0000-7000-8000-000000000001', 'tests', 'fal-ai/fooocus/image-prompt', '{}', '2026-11-25 21:04:00+00', 2, 2)`,
		`INSERT INTO generations (id, client, endpoint_id, input)
		VALUES ('01a214de-0000-7000-8000-000000000002', 'tests', 'fal-ai/fooocus/image-prompt', '{}')`)
	require.NoError(t, migrations.Up(ctx, url, nil))

	var submitted, queued *time.Time
	require.NoError(t, connectTo(t, url).QueryRow(ctx, `SELECT
			(SELECT first_submitting_at FROM generations WHERE id = '01a214de-0000-7000-8000-000000000001'),
			(SELECT first_submitting_at FROM generations WHERE id = '01a214de-0000-7000-8000-000000000002')`).
		Scan(&submitted, &queued))
	require.NotNil(t, submitted)
	require.True(t, submittingAt.Equal(*submitted), "%s", submitted)
	require.Nil(t, queued)
}
