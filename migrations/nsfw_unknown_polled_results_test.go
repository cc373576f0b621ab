package migrations_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/migrations"
)

// nsfwState is what 000027 changes: generation_images.nsfw's nullability
// and default, whether polled_results exists, and the comments of the NSFW
// columns.
type nsfwState struct {
	Nullable      bool
	Default       string
	PolledResults bool
	Comments      map[string]string
}

func nsfwStateOf(t *testing.T, conn *pgx.Conn) nsfwState {
	t.Helper()
	ctx := context.Background()
	var s nsfwState
	require.NoError(t, conn.QueryRow(ctx, `
		SELECT is_nullable = 'YES', coalesce(column_default, '') FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'generation_images' AND column_name = 'nsfw'`).Scan(&s.Nullable, &s.Default))
	require.NoError(t, conn.QueryRow(ctx, `SELECT to_regclass('polled_results') IS NOT NULL`).Scan(&s.PolledResults))
	s.Comments = map[string]string{}
	for _, c := range []struct{ table, column string }{
		{"generation_images", "nsfw"}, {"generations", "has_nsfw"}, {"generations", "nsfw_image_count"},
	} {
		var comment *string
		require.NoError(t, conn.QueryRow(ctx, `
			SELECT col_description(a.attrelid, a.attnum) FROM pg_attribute a
			WHERE a.attrelid = to_regclass($1) AND a.attname = $2`, c.table, c.column).Scan(&comment))
		if comment != nil {
			s.Comments[c.table+"."+c.column] = *comment
		}
	}
	return s
}

// Migration 000027 lets an image's NSFW flag be unknown (NULL, with no
// default that would call it clean) and adds polled_results; it breaks
// binaries before it, which read the flag into a bool. Down makes every
// unknown flag false, as those binaries recorded it, recomputes the
// generations' NSFW columns from the images, and restores 26's schema.
func TestNSFWUnknownPolledResultsMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := migratedTo(t, 26)
	conn := connectTo(t, url)

	before := nsfwStateOf(t, conn)
	require.Equal(t, nsfwState{Default: "false", Comments: map[string]string{
		"generations.has_nsfw":         "Whether fal flagged any of the generation's images NSFW. NULL unless the generation completed.",
		"generations.nsfw_image_count": "How many of the images fal returned it flagged NSFW. NULL unless the generation completed.",
	}}, before)
	beforeCompatibility := compatibilityOf(t, url)
	require.Equal(t, compatibilityRow{found: true, schemaVersion: 26, oldest: 21}, beforeCompatibility)

	require.NoError(t, migrations.Up(ctx, url, nil))
	after := nsfwStateOf(t, conn)
	require.True(t, after.Nullable)
	require.Empty(t, after.Default, "an image inserted without a flag has an unknown one, not a clean one")
	require.True(t, after.PolledResults)
	require.Contains(t, after.Comments["generation_images.nsfw"], "NULL: unknown, never clean")
	require.Contains(t, after.Comments["generations.has_nsfw"], "NULL when it flagged none but some image's flag is unknown")
	require.Contains(t, after.Comments["generations.nsfw_image_count"], "NULL when some image's flag is unknown")
	// The row 27 writes, {27, 27}: binaries before it read the flag into a
	// bool, which NULL breaks. TestEveryMigrationRecordsCompatibility
	// checks it, migration by migration.
	latest, err := migrations.Latest()
	require.NoError(t, err)

	// A generation completed with an unknown flag beside a clean one, one
	// with a flagged image beside an unknown one, and a polled result.
	clean, flagged := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	exec(t, url, `INSERT INTO generations (id, client, endpoint_id, input, status, fal_request_id, finished_at, completed_at,
			image_count, has_nsfw, nsfw_image_count)
		VALUES ('`+clean.String()+`', 'tests', 'fal-ai/fooocus/image-prompt', '{}', 'completed', 'req-a', now(), now(), 2, NULL, NULL),
			('`+flagged.String()+`', 'tests', 'fal-ai/fooocus/image-prompt', '{}', 'completed', 'req-b', now(), now(), 2, true, NULL)`,
		`INSERT INTO generation_images (generation_id, position, url, nsfw)
		VALUES ('`+clean.String()+`', 0, 'https://x/a0.png', false), ('`+clean.String()+`', 1, 'https://x/a1.png', NULL),
			('`+flagged.String()+`', 0, 'https://x/b0.png', true)`,
		`INSERT INTO generation_images (generation_id, position, url) VALUES ('`+flagged.String()+`', 1, 'https://x/b1.png')`,
		`INSERT INTO polled_results (generation_id, fal_request_id, status, body, outcome)
		VALUES ('`+clean.String()+`', 'req-a', 'OK', '\x7b7d', 'applied')`)
	var unknown int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM generation_images WHERE nsfw IS NULL`).Scan(&unknown))
	require.Equal(t, 2, unknown, "a flag left out is unknown")

	require.NoError(t, migrations.Down(ctx, url, nil, int(latest-26)))
	require.Equal(t, before, nsfwStateOf(t, conn), "down restores 26's column and comments, and drops polled_results")
	require.Equal(t, beforeCompatibility, compatibilityOf(t, url))
	rows, err := conn.Query(ctx, `SELECT g.id, g.has_nsfw, g.nsfw_image_count, array_agg(i.nsfw ORDER BY i.position)
		FROM generations g JOIN generation_images i ON i.generation_id = g.id GROUP BY g.id ORDER BY g.id`)
	require.NoError(t, err)
	type counted struct {
		ID        uuid.UUID
		HasNSFW   bool
		NSFWCount int
		Flags     []bool
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[counted])
	require.NoError(t, err)
	require.Equal(t, []counted{
		{ID: clean, HasNSFW: false, NSFWCount: 0, Flags: []bool{false, false}},
		{ID: flagged, HasNSFW: true, NSFWCount: 1, Flags: []bool{true, false}},
	}, got, "unknown flags are false, as binaries before 27 recorded them, and the counts theirs")

	require.NoError(t, migrations.Up(ctx, url, nil))
	require.Equal(t, after, nsfwStateOf(t, conn))
}
