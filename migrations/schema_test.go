package migrations_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/migrations"
)

// suggested is the DATABASE_URL ErrRiverInstalled's message proposes.
var suggested = regexp.MustCompile(`as in (\S+) \(`)

// An application's River, or its golang-migrate version table, cannot be
// shared with Easel: Up says so before it changes anything, and the
// DATABASE_URL it suggests installs Easel beside them.
func TestUpRefusesSchemaItCannotShare(t *testing.T) {
	t.Parallel()

	// oldEaselFailure is what an Easel without the check left behind.
	oldEaselFailure := func(t *testing.T, url string) {
		installRiver(t, url)
		exec(t, url, `CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)`,
			`INSERT INTO schema_migrations VALUES (1, true)`)
	}
	appMigrations := func(t *testing.T, url string) {
		exec(t, url, `CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)`,
			`INSERT INTO schema_migrations VALUES (3, false)`, `CREATE TABLE generations (id bigint PRIMARY KEY)`)
	}
	tests := []struct {
		name        string
		setup       func(t *testing.T, url string)
		urlSuffix   string
		wantErr     error
		wantMessage []string
		wantVersion uint
		wantDirty   bool
	}{
		{
			name:        "River in the default schema",
			setup:       installRiver,
			wantErr:     migrations.ErrRiverInstalled,
			wantMessage: []string{"public.river_migration", "no Easel schema"},
		},
		{
			name:        "River further along search_path",
			setup:       installRiver,
			urlSuffix:   "&search_path=easel,public",
			wantErr:     migrations.ErrRiverInstalled,
			wantMessage: []string{"public.river_migration", "search_path 'easel,public'"},
		},
		{
			name:        "River, and an older easel's failed attempt",
			setup:       oldEaselFailure,
			wantErr:     migrations.ErrRiverInstalled,
			wantMessage: []string{"public.river_migration", `left "public"."schema_migrations" at version 1, dirty`, "can be dropped"},
			wantVersion: 1,
			wantDirty:   true,
		},
		{
			name:        "another application's golang-migrate",
			setup:       appMigrations,
			wantErr:     migrations.ErrForeignMigrations,
			wantMessage: []string{`"public"."schema_migrations"`, "records version 3"},
			wantVersion: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			ctx := context.Background()
			appURL := emptyDatabase(t)
			tt.setup(t, appURL)
			url := appURL + tt.urlSuffix
			before := relations(t, appURL)
			publicBefore := relationsIn(t, appURL, "public")

			// Twice: a second Up must find the database as the first left
			// it, not with a dirty schema version.
			for range 2 {
				err := migrations.Up(ctx, url, nil)
				require.ErrorIs(t, err, tt.wantErr)
				for _, want := range append(tt.wantMessage, "search_path=easel") {
					require.ErrorContains(t, err, want)
				}
				require.NotContains(t, err.Error(), "CREATE", "no SQL in the error")
				require.Equal(t, before, relations(t, appURL), "Up must change nothing")
				require.Equal(t, []string{"public"}, schemas(t, appURL), "Up must create no schema")
				version, dirty, err := migrations.CurrentVersion(ctx, url)
				require.NoError(t, err)
				require.Equal(t, tt.wantVersion, version)
				require.Equal(t, tt.wantDirty, dirty)
			}

			err := migrations.Up(ctx, url, nil)
			m := suggested.FindStringSubmatch(err.Error())
			require.NotNil(t, m, "the error suggests a DATABASE_URL: %v", err)
			easelURL := m[1]
			require.Contains(t, easelURL, "search_path=easel")

			require.NoError(t, migrations.Up(ctx, easelURL, nil))
			latest, err := migrations.Latest()
			require.NoError(t, err)
			version, dirty, err := migrations.CurrentVersion(ctx, easelURL)
			require.NoError(t, err)
			require.False(t, dirty)
			require.Equal(t, latest, version)
			require.Subset(t, tablesIn(t, appURL, "easel"), []string{"schema_migrations", "generations", "api_keys", "river_job", "river_queue", "river_leader"})
			require.Equal(t, publicBefore, relationsIn(t, appURL, "public"), "the application's tables are untouched")
			if tt.wantErr == migrations.ErrRiverInstalled {
				requireRiverCurrent(t, appURL)
			}
			version, dirty, err = migrations.CurrentVersion(ctx, appURL)
			require.NoError(t, err)
			require.Equal(t, tt.wantVersion, version, "the application's version table is untouched")
			require.Equal(t, tt.wantDirty, dirty)
		})
	}
}

// Easel in a schema of its own leaves an application's tables of the same
// names, in public, alone; Up creates the schema when it is missing.
func TestOwnSchemaBesideApplicationTables(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	appURL := emptyDatabase(t)
	exec(t, appURL, `CREATE TABLE generations (id bigint PRIMARY KEY, title text NOT NULL)`,
		`INSERT INTO generations VALUES (1, 'the application''s row')`)
	installRiver(t, appURL) // the application's River too, unaffected
	publicBefore := relationsIn(t, appURL, "public")
	easelURL := appURL + "&search_path=easel"
	latest, err := migrations.Latest()
	require.NoError(t, err)

	require.NoError(t, migrations.Up(ctx, easelURL, nil))
	require.NoError(t, migrations.Up(ctx, easelURL, nil), "a second Up has nothing to do")

	version, dirty, err := migrations.CurrentVersion(ctx, easelURL)
	require.NoError(t, err)
	require.False(t, dirty)
	require.Equal(t, latest, version)
	version, _, err = migrations.CurrentVersion(ctx, appURL)
	require.NoError(t, err)
	require.Zero(t, version, "public has no Easel schema")
	require.Subset(t, tablesIn(t, easelURL, "easel"), []string{"generations", "generation_images", "webhook_events", "api_keys", "river_job", "river_queue", "river_leader"})
	require.Equal(t, publicBefore, relationsIn(t, appURL, "public"))
	requireRiverCurrent(t, appURL)

	// Unqualified names on Easel's connections mean Easel's tables.
	conn := connectTo(t, easelURL)
	var easelColumns int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_schema = 'easel' AND table_name = 'generations'`).Scan(&easelColumns))
	require.Greater(t, easelColumns, 2)
	var rows int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM generations`).Scan(&rows))
	require.Zero(t, rows)
	var title string
	require.NoError(t, conn.QueryRow(ctx, `SELECT title FROM public.generations WHERE id = 1`).Scan(&title))
	require.Equal(t, "the application's row", title)

	// River, on a pool of that URL as easel serve's, works in that schema.
	pool, err := pgxpool.New(ctx, easelURL+"&pool_max_conns=2")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	var riverSchema string
	require.NoError(t, pool.QueryRow(ctx, `SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = 'river_job'::regclass`).Scan(&riverSchema))
	require.Equal(t, "easel", riverSchema)

	require.NoError(t, migrations.Down(ctx, easelURL, nil, int(latest)))
	require.Equal(t, []string{"schema_migrations"}, tablesIn(t, easelURL, "easel"), "down removes Easel's tables from its schema")
	require.Equal(t, publicBefore, relationsIn(t, appURL, "public"))
}

func TestUpSearchPath(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		urlSuffix  string
		wantSchema string // where Easel's tables land
		wantErr    string // nothing changes when set
	}{
		{name: "default", wantSchema: "public"},
		{name: "missing schema is created", urlSuffix: "&search_path=easel", wantSchema: "easel"},
		{name: "unquoted name folds to lower case", urlSuffix: "&search_path=Easel", wantSchema: "easel"},
		{name: "quoted name", urlSuffix: "&search_path=%22Easel%20Jobs%22,public", wantSchema: "Easel Jobs"},
		{name: "missing first schema is created before public", urlSuffix: "&search_path=easel,public", wantSchema: "easel"},
		{name: "only $user, which does not exist", urlSuffix: "&search_path=%24user", wantErr: `search_path '$user' of database`},
		{name: "empty search_path", urlSuffix: "&search_path=", wantErr: "names no schema that exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			ctx := context.Background()
			base := emptyDatabase(t)
			url := base + tt.urlSuffix
			if tt.wantErr != "" {
				before := relations(t, base)
				err := migrations.Up(ctx, url, nil)
				require.ErrorContains(t, err, tt.wantErr)
				require.ErrorContains(t, err, "search_path")
				require.Equal(t, before, relations(t, base))
				require.Equal(t, []string{"public"}, schemas(t, base))
				err = migrations.Down(ctx, url, nil, 1)
				require.ErrorContains(t, err, "names no schema that exists")
				return
			}
			require.NoError(t, migrations.Up(ctx, url, nil))
			require.Subset(t, tablesIn(t, base, tt.wantSchema), []string{"schema_migrations", "generations", "river_job"})
			if tt.wantSchema != "public" {
				require.Empty(t, relationsIn(t, base, "public"))
			}
		})
	}
}

// Processes started together on a fresh database all start; one creates
// the schema.
func TestUpCreatesSchemaConcurrently(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	url := emptyDatabase(t) + "&search_path=easel"
	const processes = 4
	results := make(chan error, processes)
	start := make(chan struct{})
	for range processes {
		go func() {
			<-start
			results <- migrations.Up(ctx, url, nil)
		}()
	}
	close(start)
	for range processes {
		require.NoError(t, <-results)
	}
	latest, err := migrations.Latest()
	require.NoError(t, err)
	version, dirty, err := migrations.CurrentVersion(ctx, url)
	require.NoError(t, err)
	require.False(t, dirty)
	require.Equal(t, latest, version)
}

// A failed migration's error names the file, the line and Postgres's error,
// not the whole file golang-migrate quotes.
func TestFailedMigrationErrorIsShort(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	url := emptyDatabase(t)
	exec(t, url, `CREATE TYPE river_job_state AS ENUM ('unrelated')`)

	err := migrations.Up(ctx, url, nil)
	require.Error(t, err)
	msg := err.Error()
	// Postgres gives no position for this error; locate's test covers one
	// that has it.
	require.Equal(t, `migrate up: migration 000001_river_002_initial_schema.up.sql failed: ERROR: type "river_job_state" already exists (SQLSTATE 42710); `+
		`Postgres rolled it back: it changed nothing, and the schema version is still 0, clean; run the command again once the cause is gone (easel serve runs it on its next start)`, msg)
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr), "Postgres's error is wrapped")
	require.Equal(t, "42710", pgErr.Code)
}

// pgxpool takes pool_* parameters in the connection string, which a single
// connection would pass to the server as unknown settings; every entry
// point accepts a DATABASE_URL that easel serve's pool accepts.
func TestPoolParameters(t *testing.T) {
	t.Parallel()

	const pool = "&pool_max_conns=4&pool_min_conns=1&pool_min_idle_conns=1&pool_max_conn_lifetime=1h&pool_max_conn_idle_time=30m" +
		"&pool_health_check_period=1m&pool_max_conn_lifetime_jitter=1s&pool_ping_timeout=5s"
	latest, err := migrations.Latest()
	require.NoError(t, err)

	tests := []struct {
		name string
		run  func(t *testing.T, ctx context.Context)
	}{
		{name: "EnsureDatabase", run: func(t *testing.T, ctx context.Context) {
			created, err := migrations.EnsureDatabase(ctx, dbtest.MissingURL(t)+pool)
			require.NoError(t, err)
			require.True(t, created)
		}},
		{name: "DatabaseName", run: func(t *testing.T, ctx context.Context) {
			name, err := migrations.DatabaseName("postgres://u@h/app?sslmode=disable" + pool)
			require.NoError(t, err)
			require.Equal(t, "app", name)
		}},
		{name: "Up", run: func(t *testing.T, ctx context.Context) {
			require.NoError(t, migrations.Up(ctx, emptyDatabase(t)+pool, nil))
		}},
		{name: "CurrentVersion", run: func(t *testing.T, ctx context.Context) {
			version, _, err := migrations.CurrentVersion(ctx, dbtest.URL(t)+pool)
			require.NoError(t, err)
			require.Equal(t, latest, version)
		}},
		{name: "Down", run: func(t *testing.T, ctx context.Context) {
			require.NoError(t, migrations.Down(ctx, dbtest.URL(t)+pool, nil, 1))
		}},
		{name: "keyword/value connection string", run: func(t *testing.T, ctx context.Context) {
			cfg, err := pgx.ParseConfig(dbtest.URL(t))
			require.NoError(t, err)
			dsn := fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable %s", cfg.Host, cfg.Port, cfg.User, cfg.Database,
				strings.ReplaceAll(strings.TrimPrefix(pool, "&"), "&", " "))
			require.NoError(t, migrations.Up(ctx, dsn, nil))
			version, _, err := migrations.CurrentVersion(ctx, dsn)
			require.NoError(t, err)
			require.Equal(t, latest, version)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, context.Background())
		})
	}
}

// A pool parameter pgxpool would refuse is refused, naming it, before
// anything is created.
func TestBadPoolParameter(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	url := dbtest.MissingURL(t) + "&pool_max_conns=lots"
	_, err := migrations.EnsureDatabase(ctx, url)
	require.ErrorContains(t, err, "pool_max_conns")
	require.ErrorContains(t, err, "parse DATABASE_URL")
	require.ErrorContains(t, migrations.Up(ctx, url, nil), "pool_max_conns")
	_, _, err = migrations.CurrentVersion(ctx, url)
	require.ErrorContains(t, err, "pool_max_conns")
	_, err = pgx.Connect(ctx, strings.TrimSuffix(url, "&pool_max_conns=lots"))
	require.Error(t, err, "nothing created the database")
}

// installRiver migrates url's database as an application that uses River
// does, with rivermigrate.
func installRiver(t *testing.T, url string) {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	require.NoError(t, err)
	_, err = migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	require.NoError(t, err)
}

// requireRiverCurrent checks that the application's River, in url's default
// schema, is still at River's latest version.
func requireRiverCurrent(t *testing.T, url string) {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	require.NoError(t, err)
	res, err := migrator.Validate(ctx, nil)
	require.NoError(t, err)
	require.True(t, res.OK, "River reports: %v", res.Messages)
}

func connectTo(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

func exec(t *testing.T, url string, statements ...string) {
	t.Helper()
	conn := connectTo(t, url)
	for _, s := range statements {
		_, err := conn.Exec(context.Background(), s)
		require.NoError(t, err)
	}
}

// schemas lists the schemas outside the system's.
func schemas(t *testing.T, url string) []string {
	t.Helper()
	rows, err := connectTo(t, url).Query(context.Background(), `SELECT nspname FROM pg_namespace
		WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg_toast%' AND nspname NOT LIKE 'pg_temp%' ORDER BY 1`)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
}

// relationsIn lists the tables, views and sequences of schema.
func relationsIn(t *testing.T, url, schema string) []string {
	t.Helper()
	rows, err := connectTo(t, url).Query(context.Background(), `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 ORDER BY 1`, schema)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
}

func tablesIn(t *testing.T, url, schema string) []string {
	t.Helper()
	rows, err := connectTo(t, url).Query(context.Background(), `SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1`, schema)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
}
