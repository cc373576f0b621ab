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

// Migration 000027 breaks older binaries (it sets oldest_compatible_version
// to 27): Up refuses it, applying nothing, while another Easel process is
// connected, unless told those are new binaries already.
func TestUpRefusesBreakingMigrationWhileEaselSessionsRun(t *testing.T) {
	t.Parallel()

	latest, err := migrations.Latest()
	require.NoError(t, err)

	tests := []struct {
		name     string
		from     uint     // the schema's version before Up
		sessions []string // application_name of each other session
		opts     []migrations.UpOption
		refused  bool
	}{
		{name: "an easel serve replica", from: 26, sessions: []string{"easel all"}, refused: true},
		{name: "an API replica and its listener", from: 26, sessions: []string{"easel api", "easel api notify generation_finished"}, refused: true},
		{name: "named by DATABASE_URL", from: 26, sessions: []string{"easel-api-1"}, refused: true},
		{name: "allowed", from: 26, sessions: []string{"easel all"}, opts: []migrations.UpOption{migrations.AllowRunningReplicas()}},
		{name: "no session", from: 26},
		{name: "another migration's session", from: 26, sessions: []string{"easel migrate"}},
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
			require.ErrorContains(t, err, "no migration was applied and the schema is unchanged")
			require.ErrorContains(t, err, "Recreate")
			require.ErrorContains(t, err, "easel migrate up --allow-running-replicas")
			for i, name := range tt.sessions {
				require.ErrorContains(t, err, fmt.Sprintf("pid %d, application_name %q, client_addr ", pids[i], name))
			}
			require.ErrorContains(t, err, "backend_start 20")
			state := stateOf(t, url)
			require.Equal(t, schemaState{version: 26, relations: state.relations}, state)
			require.Equal(t, compatibilityRow{found: true, schemaVersion: 26, oldest: 21}, compatibilityOf(t, url))
			require.NotContains(t, state.relations, "public.polled_results")
		})
	}
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
