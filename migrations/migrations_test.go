package migrations_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
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
	version, dirty, err := migrations.CurrentVersion(ctx, url)
	require.NoError(t, err)
	require.False(t, dirty)
	require.Equal(t, latest, version)

	require.NoError(t, migrations.Down(ctx, url, nil, int(latest)))
	version, _, err = migrations.CurrentVersion(ctx, url)
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
	url := dbtest.MissingURL(t)

	created, err := migrations.EnsureDatabase(ctx, url)
	require.NoError(t, err)
	require.True(t, created)

	created, err = migrations.EnsureDatabase(ctx, url)
	require.NoError(t, err)
	require.False(t, created, "second call finds the database")
}

// Processes started together on a missing database (an API and a worker)
// all start: exactly one creates it, the others find it.
func TestEnsureDatabaseConcurrently(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	url := dbtest.MissingURL(t)

	const processes = 8
	results := make(chan error, processes)
	var created atomic.Int32
	start := make(chan struct{})
	for range processes {
		go func() {
			<-start
			c, err := migrations.EnsureDatabase(ctx, url)
			if c {
				created.Add(1)
			}
			results <- err
		}()
	}
	close(start)
	for range processes {
		require.NoError(t, <-results)
	}
	require.EqualValues(t, 1, created.Load(), "one process created it")
}

// unreachable is a maintenance connection that always fails, as it does for
// a role that may not connect to the "postgres" database.
const unreachable = "postgres://nouser@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2"

func TestEnsureDatabaseConnectsToMaintenanceOnlyWhenMissing(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name        string
		url         func(t *testing.T) string
		maintenance string
		wantCreated bool
		wantErr     []string // substrings; none means success
	}{
		{
			name:        "existing database needs no maintenance connection",
			url:         func(t *testing.T) string { return dbtest.URL(t) },
			maintenance: unreachable,
		},
		{
			name:        "missing database is created through the maintenance database",
			url:         func(t *testing.T) string { return dbtest.MissingURL(t) },
			maintenance: dbtest.DefaultURL,
			wantCreated: true,
		},
		{
			name:        "missing database and unreachable maintenance database",
			url:         func(t *testing.T) string { return dbtest.MissingURL(t) },
			maintenance: unreachable,
			wantErr:     []string{"does not exist", "connect to the postgres database to create it", "nouser"},
		},
		{
			name: "unreachable server is not taken for a missing database",
			url: func(t *testing.T) string {
				// Dropped at the end should EnsureDatabase wrongly create it
				// through the maintenance database.
				return strings.Replace(dbtest.MissingURL(t), ":5432/", ":1/", 1) + "&connect_timeout=2"
			},
			maintenance: dbtest.DefaultURL,
			wantErr:     []string{"connect to database", "127.0.0.1:1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			url := tt.url(t)
			created, err := migrations.EnsureDatabaseVia(context.Background(), url, tt.maintenance)
			if len(tt.wantErr) > 0 {
				require.Error(t, err)
				name, nerr := migrations.DatabaseName(url)
				require.NoError(t, nerr)
				require.ErrorContains(t, err, `"`+name+`"`, "the error names the database")
				for _, want := range tt.wantErr {
					require.ErrorContains(t, err, want)
				}
				require.False(t, created)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantCreated, created)
			if created {
				conn, err := pgx.Connect(context.Background(), url)
				require.NoError(t, err, "the database exists now")
				conn.Close(context.Background())
			}
		})
	}
}

func TestCurrentVersionChangesNothing(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	latest, err := migrations.Latest()
	require.NoError(t, err)

	tests := []struct {
		name        string
		url         func(t *testing.T) string
		wantVersion uint
		wantDirty   bool
	}{
		{name: "empty database", url: emptyDatabase, wantVersion: 0},
		{name: "migrated database", url: func(t *testing.T) string { return dbtest.URL(t) }, wantVersion: latest},
		{name: "older schema", url: func(t *testing.T) string {
			url := dbtest.URL(t)
			require.NoError(t, migrations.Down(ctx, url, nil, 1))
			return url
		}, wantVersion: latest - 1},
		{name: "newer schema", url: func(t *testing.T) string {
			url := dbtest.URL(t)
			setVersion(t, url, int64(latest)+1, false)
			return url
		}, wantVersion: latest + 1},
		{name: "dirty schema", url: func(t *testing.T) string {
			url := dbtest.URL(t)
			setVersion(t, url, int64(latest), true)
			return url
		}, wantVersion: latest, wantDirty: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			url := tt.url(t)
			before := relations(t, url)
			version, dirty, err := migrations.CurrentVersion(ctx, url)
			require.NoError(t, err)
			require.Equal(t, tt.wantVersion, version)
			require.Equal(t, tt.wantDirty, dirty)
			require.Equal(t, before, relations(t, url), "CurrentVersion must create nothing")
		})
	}
}

func TestCurrentVersionOfMissingDatabase(t *testing.T) {
	t.Parallel()

	url := dbtest.MissingURL(t)
	_, _, err := migrations.CurrentVersion(context.Background(), url)
	require.ErrorIs(t, err, migrations.ErrNoDatabase)
	name, nerr := migrations.DatabaseName(url)
	require.NoError(t, nerr)
	require.ErrorContains(t, err, `"`+name+`"`)

	_, err = pgx.Connect(context.Background(), url)
	require.Error(t, err, "CurrentVersion must not create the database")
}

func TestUpRefusesNewerSchema(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	url := dbtest.URL(t)
	latest, err := migrations.Latest()
	require.NoError(t, err)
	setVersion(t, url, int64(latest)+1, false)

	err = migrations.Up(ctx, url, nil)
	require.ErrorIs(t, err, migrations.ErrSchemaNewer)
	require.ErrorContains(t, err, fmt.Sprintf("schema version %d", latest+1))
}

// emptyDatabase returns the URL of a new database without Easel's schema.
func emptyDatabase(t *testing.T) string {
	t.Helper()
	url := dbtest.MissingURL(t)
	created, err := migrations.EnsureDatabase(context.Background(), url)
	require.NoError(t, err)
	require.True(t, created)
	return url
}

func setVersion(t *testing.T, url string, version int64, dirty bool) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `UPDATE schema_migrations SET version = $1, dirty = $2`, version, dirty)
	require.NoError(t, err)
}

// relations lists every table, view and sequence outside the system schemas.
func relations(t *testing.T, url string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1`)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
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
