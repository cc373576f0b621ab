package migrations_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/migrations"
)

// schemaState is what a refused Down or Force must leave as it was.
type schemaState struct {
	version   uint
	dirty     bool
	relations []string
}

func stateOf(t *testing.T, url string) schemaState {
	t.Helper()
	version, dirty, err := migrations.CurrentVersion(context.Background(), url)
	require.NoError(t, err)
	return schemaState{version: version, dirty: dirty, relations: relations(t, url)}
}

// migratedTo returns the URL of a database migrated to version.
func migratedTo(t *testing.T, version uint) string {
	t.Helper()
	url := dbtest.URL(t)
	latest, err := migrations.Latest()
	require.NoError(t, err)
	if version < latest {
		require.NoError(t, migrations.Down(context.Background(), url, nil, int(latest-version)))
	}
	return url
}

func TestDown(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	latest, err := migrations.Latest()
	require.NoError(t, err)

	tests := []struct {
		name  string
		url   func(t *testing.T) string
		steps int
		// wantVersion is the version after a Down that succeeds; with
		// wantErr, Down must change nothing.
		wantVersion uint
		wantErr     []string
		wantIs      error
	}{
		{name: "one", url: func(t *testing.T) string { return migratedTo(t, 10) }, steps: 1, wantVersion: 9},
		{name: "all", url: func(t *testing.T) string { return migratedTo(t, 10) }, steps: 10, wantVersion: 0},
		{
			name: "more than the version", url: func(t *testing.T) string { return migratedTo(t, 10) }, steps: 20,
			wantErr: []string{"migrate down 20: the schema is at version 10, so at most 10 migrations can be reverted", "easel migrate down 10", "nothing was changed"},
		},
		{
			name: "one more than the version", url: func(t *testing.T) string { return migratedTo(t, 3) }, steps: 4,
			wantErr: []string{"migrate down 4: the schema is at version 3"},
		},
		{
			name: "no schema", url: func(t *testing.T) string { return migratedTo(t, 0) }, steps: 1,
			wantErr: []string{"migrate down 1: the schema is at version 0: there is no migration to revert; nothing was changed"},
		},
		{
			name: "dirty", url: func(t *testing.T) string {
				url := migratedTo(t, 10)
				setVersion(t, url, 10, true)
				return url
			}, steps: 1,
			wantIs: migrations.ErrDirty, wantErr: []string{"migrate down 1: ", "dirty schema version 10: ", "`easel migrate force 9`"},
		},
		{
			name: "newer schema", url: func(t *testing.T) string {
				url := dbtest.URL(t)
				setVersion(t, url, int64(latest)+1, false)
				return url
			}, steps: 1,
			wantIs: migrations.ErrSchemaNewer, wantErr: []string{fmt.Sprintf("schema version %d", latest+1)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			url := tt.url(t)
			before := stateOf(t, url)
			err := migrations.Down(ctx, url, nil, tt.steps)
			if tt.wantErr == nil {
				require.NoError(t, err)
				version, dirty, err := migrations.CurrentVersion(ctx, url)
				require.NoError(t, err)
				require.False(t, dirty)
				require.Equal(t, tt.wantVersion, version)
				return
			}
			for _, want := range tt.wantErr {
				require.ErrorContains(t, err, want)
			}
			if tt.wantIs != nil {
				require.ErrorIs(t, err, tt.wantIs)
			}
			require.Equal(t, before, stateOf(t, url), "a refused down changes nothing")
		})
	}
}

func TestForce(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	latest, err := migrations.Latest()
	require.NoError(t, err)

	tests := []struct {
		name    string
		url     func(t *testing.T) string
		version uint
		// wantErr empty: Force records version, clean, and changes no
		// table; else it changes nothing at all.
		wantErr []string
		wantIs  error
	}{
		{name: "dirty, to the version before", url: func(t *testing.T) string {
			url := dbtest.URL(t)
			setVersion(t, url, int64(latest), true)
			return url
		}, version: latest - 1},
		{name: "dirty, to its own version", url: func(t *testing.T) string {
			url := dbtest.URL(t)
			setVersion(t, url, int64(latest), true)
			return url
		}, version: latest},
		{name: "to no migration", url: func(t *testing.T) string { return migratedTo(t, 1) }, version: 0},
		{
			name: "past the newest migration", url: func(t *testing.T) string { return dbtest.URL(t) }, version: latest + 1,
			wantErr: []string{fmt.Sprintf("migrate force %d: this binary's migrations go up to version %d; nothing was changed", latest+1, latest)},
		},
		{
			name: "no Easel schema", url: emptyDatabase, version: 1,
			wantErr: []string{"migrate force 1: database", "has no schema_migrations table", "easel migrate up creates one"},
		},
		{
			name: "newer schema", url: func(t *testing.T) string {
				url := dbtest.URL(t)
				setVersion(t, url, int64(latest)+1, true)
				return url
			}, version: latest,
			wantIs: migrations.ErrSchemaNewer,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			url := tt.url(t)
			before := stateOf(t, url)
			err := migrations.Force(ctx, url, nil, tt.version)
			if tt.wantErr == nil && tt.wantIs == nil {
				require.NoError(t, err)
				require.Equal(t, schemaState{version: tt.version, relations: before.relations}, stateOf(t, url))
				return
			}
			for _, want := range tt.wantErr {
				require.ErrorContains(t, err, want)
			}
			if tt.wantIs != nil {
				require.ErrorIs(t, err, tt.wantIs)
			}
			require.Equal(t, before, stateOf(t, url), "a refused force changes nothing")
		})
	}
}

// A migration Postgres fails was rolled back: Up records the version from
// before it, clean, and the next Up, once the cause is fixed, runs it.
func TestRecoverFromFailedMigration(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	latest, err := migrations.Latest()
	require.NoError(t, err)
	// Migration 18 comments on webhook_events.outcome, which fails once the
	// column is renamed.
	url := migratedTo(t, 17)
	exec(t, url, `ALTER TABLE webhook_events RENAME COLUMN outcome TO outcome_renamed`)

	err = migrations.Up(ctx, url, nil)
	require.ErrorContains(t, err, "000018_late_outcome_comment.up.sql failed")
	require.ErrorContains(t, err, "(SQLSTATE 42703); Postgres rolled it back: it changed nothing, and the schema version is still 17, clean")
	require.NotErrorIs(t, err, migrations.ErrDirty)
	version, dirty, err := migrations.CurrentVersion(ctx, url)
	require.NoError(t, err)
	require.False(t, dirty)
	require.Equal(t, uint(17), version)

	exec(t, url, `ALTER TABLE webhook_events RENAME COLUMN outcome_renamed TO outcome`)
	require.NoError(t, migrations.Up(ctx, url, nil))
	version, dirty, err = migrations.CurrentVersion(ctx, url)
	require.NoError(t, err)
	require.False(t, dirty)
	require.Equal(t, latest, version)
	var comment string
	require.NoError(t, connectTo(t, url).QueryRow(ctx, `SELECT col_description('webhook_events'::regclass,
		(SELECT attnum FROM pg_attribute WHERE attrelid = 'webhook_events'::regclass AND attname = 'outcome'))`).Scan(&comment))
	require.Contains(t, comment, "client_cancelled", "migration 18 ran in full")
}

// A down migration Postgres fails leaves the version it reverted, clean.
func TestRecoverFromFailedDownMigration(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	// Migration 10's down drops columns of generations that a view built
	// on them keeps.
	url := migratedTo(t, 10)
	exec(t, url, `CREATE VIEW keeps_submission_accounting AS SELECT fal_submissions_confirmed FROM generations`)
	before := relations(t, url)

	err := migrations.Down(ctx, url, nil, 1)
	require.ErrorContains(t, err, "migrate down 1: migration 000010_submission_accounting.down.sql failed")
	require.ErrorContains(t, err, "Postgres rolled it back: it changed nothing, and the schema version is still 10, clean")
	require.Equal(t, schemaState{version: 10, relations: before}, stateOf(t, url))

	exec(t, url, `DROP VIEW keeps_submission_accounting`)
	require.NoError(t, migrations.Down(ctx, url, nil, 1))
	require.Equal(t, uint(9), stateOf(t, url).version)
}

func TestDirtyError(t *testing.T) {
	t.Parallel()

	latest, err := migrations.Latest()
	require.NoError(t, err)
	tests := []struct {
		name    string
		version uint
		want    []string
		notWant []string
	}{
		{
			name: "after the first down", version: 0,
			want:    []string{"dirty schema version 0: ", "If 000001_river_002_initial_schema.down.sql (easel migrate down) did not commit, run `easel migrate force 1`", "if the failed migration committed, run `easel migrate force 0`"},
			notWant: []string{".up.sql"},
		},
		{
			name: "midway", version: 9,
			want: []string{"dirty schema version 9: ", "If 000009_api_keys_active_name.up.sql (easel migrate up, easel serve) did not commit, run `easel migrate force 8`",
				"if 000010_submission_accounting.down.sql (easel migrate down) did not commit, run `easel migrate force 10`", "run `easel migrate force 9`"},
			notWant: []string{"easel_schema_compatibility"},
		},
		{
			name: "newest", version: latest,
			want: []string{fmt.Sprintf("dirty schema version %d: ", latest), fmt.Sprintf("run `easel migrate force %d`", latest-1),
				"SELECT schema_version FROM easel_schema_compatibility"},
			notWant: []string{".down.sql"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := migrations.DirtyError(tt.version)
			require.ErrorIs(t, err, migrations.ErrDirty)
			for _, want := range tt.want {
				require.ErrorContains(t, err, want)
			}
			for _, notWant := range tt.notWant {
				require.NotContains(t, err.Error(), notWant)
			}
		})
	}
}
