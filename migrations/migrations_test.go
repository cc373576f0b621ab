package migrations_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/migrations"
)

func TestUpDownRoundTrip(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	url := dbtest.URL(t) // already at the latest version

	latest, err := migrations.Latest()
	require.NoError(t, err)
	version, dirty, err := migrations.Version(ctx, url)
	require.NoError(t, err)
	require.False(t, dirty)
	require.Equal(t, latest, version)

	require.NoError(t, migrations.Down(ctx, url, nil, int(latest)))
	version, _, err = migrations.Version(ctx, url)
	require.NoError(t, err)
	require.Zero(t, version)
	require.Empty(t, tables(t, url), "down must remove every table but golang-migrate's own")

	require.NoError(t, migrations.Up(ctx, url, nil))
	require.Subset(t, tables(t, url), []string{"generations", "generation_images", "webhook_events", "api_keys", "river_job", "river_queue", "river_leader"})
}

func TestDownRejectsZeroSteps(t *testing.T) {
	t.Parallel()

	err := migrations.Down(context.Background(), "postgres://unused", nil, 0)
	require.ErrorContains(t, err, "steps must be at least 1")
}

func TestEnsureDatabaseCreatesMissingDatabase(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dbtest.DefaultURL)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close(ctx) })

	name := "easel_ensure_" + strings.ToLower(rand.Text())
	t.Cleanup(func() { _, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name) })
	url := "postgres://postgres@127.0.0.1:5432/" + name + "?sslmode=disable"

	created, err := migrations.EnsureDatabase(ctx, url)
	require.NoError(t, err)
	require.True(t, created)

	created, err = migrations.EnsureDatabase(ctx, url)
	require.NoError(t, err)
	require.False(t, created, "second call finds the database")
}

func tables(t *testing.T, url string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'`)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
}
