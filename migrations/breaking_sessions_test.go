package migrations_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/migrations"
)

// connectAs connects to url as a client named name does, until the test
// ends, and returns its backend's pid.
func connectAs(t *testing.T, url, name string) uint32 {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(url)
	require.NoError(t, err)
	cfg.RuntimeParams["application_name"] = name
	conn, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(ctx) })
	return conn.PgConn().PID()
}

// connectMigrating holds open, until the test ends, a connection of
// another replica in its migrate phase, whose DATABASE_URL is url with
// application_name set to name (none when empty), and returns its pid
// and the application_name it shows.
func connectMigrating(t *testing.T, url, name string) (pid uint32, shown string) {
	t.Helper()
	ctx := context.Background()
	if name != "" {
		url += "&application_name=" + strings.ReplaceAll(name, " ", "%20")
	}
	conn, err := migrations.ConnectMigrating(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(ctx) })
	require.NoError(t, conn.QueryRow(ctx, `SELECT current_setting('application_name')`).Scan(&shown))
	return conn.PgConn().PID(), shown
}

// Migration 000027 breaks older binaries (it sets oldest_compatible_version
// to 27): Up refuses it, applying nothing, while another Easel process is
// connected, unless told those are new binaries already. Other replicas in
// their migrate phase, as when replicas start together, are not counted,
// whatever DATABASE_URL names them; a serving replica is, whatever it names
// it.
func TestUpRefusesBreakingMigrationWhileEaselSessionsRun(t *testing.T) {
	t.Parallel()

	latest, err := migrations.Latest()
	require.NoError(t, err)

	tests := []struct {
		name     string
		from     uint     // the schema's version before Up
		sessions []string // application_name of each serving session
		// migrating is, for each other replica in its migrate phase, the
		// application_name its DATABASE_URL sets ("" for none), and
		// migratingAs the name its session shows.
		migrating   []string
		migratingAs []string
		opts        []migrations.UpOption
		refused     bool
	}{
		{name: "an easel serve replica", from: 26, sessions: []string{"easel all"}, refused: true},
		{name: "an API replica and its listener", from: 26, sessions: []string{"easel api", "easel api notify generation_finished"}, refused: true},
		{name: "named by DATABASE_URL", from: 26, sessions: []string{"easel-api-1"}, refused: true},
		{name: "allowed", from: 26, sessions: []string{"easel all"}, opts: []migrations.UpOption{migrations.AllowRunningReplicas()}},
		{name: "no session", from: 26},
		{name: "another replica migrating", from: 26, migrating: []string{""}, migratingAs: []string{"easel migrate"}},
		{name: "other replicas migrating, named by DATABASE_URL", from: 26,
			migrating: []string{"easel-web", "easel-api-1"}, migratingAs: []string{"easel migrate (easel-web)", "easel migrate (easel-api-1)"}},
		{name: "a migration job named by its DATABASE_URL", from: 26, migrating: []string{"easel migrate job"}, migratingAs: []string{"easel migrate job"}},
		{name: "one replica migrating, another serving, named alike", from: 26, sessions: []string{"easel-web"},
			migrating: []string{"easel-web"}, migratingAs: []string{"easel migrate (easel-web)"}, refused: true},
		// A name is no proof of migrating: DATABASE_URL may give a serving
		// replica's pool any.
		{name: "a serving replica named like a migration", from: 26, sessions: []string{"easel migrate", "easel migrate (easel-web)"}, refused: true},
		{name: "not easel", from: 26, sessions: []string{"psql", ""}},
		{name: "no breaking migration pending", from: 27, sessions: []string{"easel all"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			ctx := context.Background()
			url := migratedTo(t, tt.from)
			pids := make([]uint32, len(tt.sessions))
			for i, name := range tt.sessions {
				pids[i] = connectAs(t, url, name)
			}
			var migratingPids []uint32
			var shown []string
			for _, name := range tt.migrating {
				pid, as := connectMigrating(t, url, name)
				migratingPids, shown = append(migratingPids, pid), append(shown, as)
			}
			require.Equal(t, tt.migratingAs, shown, "what pg_stat_activity shows of the migrating sessions")
			var logs bytes.Buffer
			err := migrations.Up(ctx, url, slog.New(slog.NewTextHandler(&logs, nil)), tt.opts...)

			if !tt.refused {
				require.NoError(t, err)
				require.Equal(t, latest, stateOf(t, url).version)
				require.Equal(t, int64(latest), compatibilityOf(t, url).schemaVersion)
				if tt.opts != nil {
					require.Contains(t, logs.String(), "allow-running-replicas")
					require.Contains(t, logs.String(), "000027_nsfw_unknown_polled_results.up.sql")
				}
				return
			}
			require.ErrorIs(t, err, migrations.ErrRunningReplicas)
			require.ErrorContains(t, err, "migration 000027_nsfw_unknown_polled_results.up.sql breaks older binaries")
			require.ErrorContains(t, err, "older than 27 cannot read the schema after it")
			require.ErrorContains(t, err, fmt.Sprintf("and %d other Easel session(s) are connected", len(tt.sessions)))
			require.ErrorContains(t, err, "no migration was applied and the schema is unchanged")
			require.ErrorContains(t, err, "Recreate")
			require.ErrorContains(t, err, "easel migrate up --allow-running-replicas")
			for i, name := range tt.sessions {
				require.ErrorContains(t, err, fmt.Sprintf("pid %d, application_name %q, client_addr ", pids[i], name))
			}
			for _, pid := range migratingPids {
				require.NotContains(t, err.Error(), fmt.Sprintf("pid %d,", pid))
			}
			require.ErrorContains(t, err, "backend_start 20")
			state := stateOf(t, url)
			require.Equal(t, schemaState{version: 26, relations: state.relations}, state)
			require.Equal(t, compatibilityRow{found: true, schemaVersion: 26, oldest: 21}, compatibilityOf(t, url))
			require.NotContains(t, state.relations, "public.polled_results")
		})
	}
}

// Replicas started together on a schema a pending migration breaks, their
// DATABASE_URL naming their connections as docs/DATABASE.md suggests, all
// start: each sees the others migrating, not serving. Once one serves
// (its pool keeps DATABASE_URL's name), a replica started later on an
// older schema refuses.
func TestReplicasStartingTogetherMigrate(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	url := migratedTo(t, 26) + "&application_name=easel-web"
	const replicas = 4
	results := make(chan error, replicas)
	start := make(chan struct{})
	for range replicas {
		go func() {
			<-start
			results <- migrations.Up(ctx, url, nil)
		}()
	}
	close(start)
	for range replicas {
		require.NoError(t, <-results)
	}
	latest, err := migrations.Latest()
	require.NoError(t, err)
	require.Equal(t, latest, stateOf(t, url).version)

	// A database still at 26, with one of those replicas serving.
	older := migratedTo(t, 26)
	pid := connectAs(t, older, "easel-web")
	err = migrations.Up(ctx, older+"&application_name=easel-web", nil)
	require.ErrorIs(t, err, migrations.ErrRunningReplicas)
	require.ErrorContains(t, err, fmt.Sprintf("pid %d, application_name %q", pid, "easel-web"))
	require.Equal(t, uint(26), stateOf(t, older).version)
}

// The error lists 10 sessions at most, and says how many more there are.
func TestUpRefusalListsTenSessions(t *testing.T) {
	t.Parallel()

	url := migratedTo(t, 26)
	for i := range 12 {
		connectAs(t, url, fmt.Sprintf("easel-api-%d", i))
	}
	err := migrations.Up(context.Background(), url, nil)
	require.ErrorIs(t, err, migrations.ErrRunningReplicas)
	require.ErrorContains(t, err, "12 other Easel session(s)")
	require.ErrorContains(t, err, "; and 2 more), so no migration was applied")
	require.Equal(t, 10, strings.Count(err.Error(), "pid "))
	require.NotContains(t, err.Error(), "\n", "one line")
	require.Equal(t, uint(26), stateOf(t, url).version)
}
