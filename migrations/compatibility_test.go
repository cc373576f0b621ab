package migrations_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/golang-migrate/migrate/v4"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/migrations"
)

// compatibilityFrom is the migration that created easel_schema_compatibility.
const compatibilityFrom = 24

// compatibilityRow is easel_schema_compatibility's row; found is false
// when the table or the row is missing.
type compatibilityRow struct {
	found         bool
	schemaVersion int64
	oldest        int64
}

func compatibilityOf(t *testing.T, url string) compatibilityRow {
	t.Helper()
	conn := connectTo(t, url)
	var exists bool
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT to_regclass('easel_schema_compatibility') IS NOT NULL`).Scan(&exists))
	if !exists {
		return compatibilityRow{}
	}
	row := compatibilityRow{found: true}
	err := conn.QueryRow(context.Background(), `SELECT schema_version, oldest_compatible_version FROM easel_schema_compatibility`).Scan(&row.schemaVersion, &row.oldest)
	if errors.Is(err, pgx.ErrNoRows) {
		return compatibilityRow{}
	}
	require.NoError(t, err)
	return row
}

// newerSchema is what a binary whose newest migration is latest finds
// after newer ones ran: versions ahead, the row as they wrote it.
func newerSchema(t *testing.T, url string, ahead uint, dirty bool, rowVersion, oldest int64) {
	t.Helper()
	latest, err := migrations.Latest()
	require.NoError(t, err)
	setVersion(t, url, int64(latest+ahead), dirty)
	exec(t, url, fmt.Sprintf(`UPDATE easel_schema_compatibility SET schema_version = %d, oldest_compatible_version = %d`, rowVersion, oldest))
}

func TestUpOnNewerSchema(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	latest, err := migrations.Latest()
	require.NoError(t, err)
	next, last := int64(latest)+1, int64(latest)

	tests := []struct {
		name string
		// url returns a database whose schema a newer easel has left.
		url     func(t *testing.T) string
		wantErr []string // empty: Up returns nil, logging wantWarn
		// ahead is how many versions the schema is ahead of the binary.
		ahead uint
	}{
		{
			name: "compatible: additive migrations after the binary's", ahead: 1,
			url: func(t *testing.T) string {
				url := dbtest.URL(t)
				newerSchema(t, url, 1, false, next, 21)
				return url
			},
		},
		{
			name: "compatible: the oldest compatible version is the binary's own", ahead: 2,
			url: func(t *testing.T) string {
				url := dbtest.URL(t)
				newerSchema(t, url, 2, false, next+1, last)
				return url
			},
		},
		{
			name: "compatible, in a schema of its own", ahead: 1,
			url: func(t *testing.T) string {
				url := emptyDatabase(t) + "&search_path=easel"
				require.NoError(t, migrations.Up(context.Background(), url, nil))
				newerSchema(t, url, 1, false, next, 21)
				return url
			},
		},
		{
			name: "a migration after the binary's breaks it", ahead: 1,
			url: func(t *testing.T) string {
				url := dbtest.URL(t)
				newerSchema(t, url, 1, false, next, next)
				return url
			},
			wantErr: []string{
				fmt.Sprintf("migrate up: schema is newer than this easel binary: the database is at schema version %d, this binary knows versions up to %d; ", next, latest),
				fmt.Sprintf("its oldest compatible version is %d: a migration after %d changed what older binaries rely on", next, latest),
				"stop the newer easel processes and run `easel migrate down 1` with the newer easel first",
			},
		},
		{
			name: "two migrations ahead, the second breaking it", ahead: 2,
			url: func(t *testing.T) string {
				url := dbtest.URL(t)
				newerSchema(t, url, 2, false, next+1, next+1)
				return url
			},
			wantErr: []string{fmt.Sprintf("its oldest compatible version is %d", next+1), "`easel migrate down 2` with the newer easel"},
		},
		{
			name: "the row is not the schema version's", ahead: 1,
			url: func(t *testing.T) string {
				url := dbtest.URL(t)
				setVersion(t, url, next, false) // as a migration that wrote no row would
				return url
			},
			wantErr: []string{fmt.Sprintf("its easel_schema_compatibility row was written by migration %d, not %d, so it says nothing", latest, next)},
		},
		{
			name: "no compatibility table", ahead: 1,
			url: func(t *testing.T) string {
				url := dbtest.URL(t)
				setVersion(t, url, next, false)
				exec(t, url, `DROP TABLE easel_schema_compatibility`)
				return url
			},
			wantErr: []string{"it records no oldest compatible version (no easel_schema_compatibility row), so it counts as incompatible"},
		},
		{
			name: "no compatibility row", ahead: 1,
			url: func(t *testing.T) string {
				url := dbtest.URL(t)
				setVersion(t, url, next, false)
				exec(t, url, `DELETE FROM easel_schema_compatibility`)
				return url
			},
			wantErr: []string{"it records no oldest compatible version"},
		},
		{
			name: "dirty, though compatible", ahead: 1,
			url: func(t *testing.T) string {
				url := dbtest.URL(t)
				newerSchema(t, url, 1, true, next, 21)
				return url
			},
			wantErr: []string{
				fmt.Sprintf("migrate up: schema is newer than this easel binary: the database is at schema version %d", next),
				"it is dirty: a newer easel's migration failed or was interrupted",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			url := tt.url(t)
			before, rowBefore := stateOf(t, url), compatibilityOf(t, url)
			var logs bytes.Buffer
			err := migrations.Up(ctx, url, slog.New(slog.NewTextHandler(&logs, nil)))

			require.Equal(t, before, stateOf(t, url), "Up on a newer schema changes nothing")
			require.Equal(t, rowBefore, compatibilityOf(t, url))
			if tt.wantErr == nil {
				require.NoError(t, err)
				require.Contains(t, logs.String(), "level=WARN")
				require.Contains(t, logs.String(), fmt.Sprintf(
					"schema version %d is newer than this binary's %d, and compatible with it: running without migrating; upgrade this binary", latest+tt.ahead, latest))
				return
			}
			require.ErrorIs(t, err, migrations.ErrSchemaNewer)
			for _, want := range tt.wantErr {
				require.ErrorContains(t, err, want)
			}
			require.NotContains(t, logs.String(), "level=WARN")
		})
	}
}

// Each migration from 000024 on writes easel_schema_compatibility as the
// package doc says, and its down migration writes back the row it found:
// one that does not would make every older binary refuse the schema.
func TestEveryMigrationRecordsCompatibility(t *testing.T) {
	t.Parallel()

	latest, err := migrations.Latest()
	require.NoError(t, err)
	url := migratedTo(t, compatibilityFrom-1)
	require.Equal(t, compatibilityRow{}, compatibilityOf(t, url), "no table before 000024")

	src, err := iofs.New(migrations.FS(), ".")
	require.NoError(t, err)
	db, err := sql.Open("pgx", url)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	driver, err := migratepgx.WithInstance(db, &migratepgx.Config{})
	require.NoError(t, err)
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", driver)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })

	rows := map[uint]compatibilityRow{}
	for v := uint(compatibilityFrom); v <= latest; v++ {
		require.NoError(t, m.Steps(1), "up to %d", v)
		row := compatibilityOf(t, url)
		require.True(t, row.found, "after migration %d", v)
		require.Equal(t, int64(v), row.schemaVersion, "migration %d must write its version in easel_schema_compatibility", v)
		require.GreaterOrEqual(t, row.oldest, int64(1), "after migration %d", v)
		require.LessOrEqual(t, row.oldest, int64(v), "after migration %d", v)
		rows[v] = row
	}
	require.Equal(t, compatibilityRow{found: true, schemaVersion: compatibilityFrom, oldest: 21}, rows[compatibilityFrom],
		"000022 and 000023 are additive: binaries of 21 run on 24")
	require.Equal(t, compatibilityRow{found: true, schemaVersion: 25, oldest: 21}, rows[25],
		"000025 is additive: binaries of 21 run on 25")
	require.Equal(t, compatibilityRow{found: true, schemaVersion: 27, oldest: 27}, rows[27],
		"000027 breaks binaries before it: they read generation_images.nsfw, now nullable, into a bool")

	for v := latest; v > compatibilityFrom; v-- {
		require.NoError(t, m.Steps(-1), "down from %d", v)
		require.Equal(t, rows[v-1], compatibilityOf(t, url), "the down migration of %d must write back the row %d wrote", v, v-1)
	}
	require.NoError(t, m.Steps(-1))
	require.Equal(t, compatibilityRow{}, compatibilityOf(t, url), "000024's down migration drops the table")
	require.NotContains(t, relations(t, url), "public.easel_schema_compatibility")
}

func TestCompatibilityTableKeepsOneSensibleRow(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		statement string
		wantCode  string // SQLSTATE
	}{
		{name: "a second row", statement: `INSERT INTO easel_schema_compatibility VALUES (24, 21)`, wantCode: "23505"},
		{name: "oldest above the schema's version", statement: `UPDATE easel_schema_compatibility SET oldest_compatible_version = schema_version + 1`, wantCode: "23514"},
		{name: "oldest below 1", statement: `UPDATE easel_schema_compatibility SET oldest_compatible_version = 0`, wantCode: "23514"},
		{name: "no oldest", statement: `UPDATE easel_schema_compatibility SET oldest_compatible_version = NULL`, wantCode: "23502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			url := dbtest.URL(t)
			before := compatibilityOf(t, url)
			_, err := connectTo(t, url).Exec(context.Background(), tt.statement)
			var pgErr *pgconn.PgError
			require.ErrorAs(t, err, &pgErr)
			require.Equal(t, tt.wantCode, pgErr.Code, pgErr.Message)
			require.Equal(t, before, compatibilityOf(t, url))
		})
	}
}

// An operator's \d+ says what the table and its columns mean.
func TestCompatibilityTableIsDocumented(t *testing.T) {
	t.Parallel()

	url := dbtest.URL(t)
	var table, schemaVersion, oldest string
	require.NoError(t, connectTo(t, url).QueryRow(context.Background(), `SELECT
		coalesce(obj_description('easel_schema_compatibility'::regclass, 'pg_class'), ''),
		coalesce(col_description('easel_schema_compatibility'::regclass, 1), ''),
		coalesce(col_description('easel_schema_compatibility'::regclass, 2), '')`).Scan(&table, &schemaVersion, &oldest))
	require.Contains(t, table, "which easel binaries run correctly on this schema")
	require.Contains(t, schemaVersion, "The migration that wrote this row")
	require.Contains(t, oldest, "The oldest schema version whose easel binaries still run correctly against this schema")
	require.True(t, strings.Contains(oldest, "leaves it") && strings.Contains(oldest, "sets it to its own version"), oldest)
}
