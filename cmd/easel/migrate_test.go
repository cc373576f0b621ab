package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/migrations"
)

// A DATABASE_URL with pgxpool's pool_* parameters, which a service's pool
// takes, works for easel migrate and easel keys too.
func TestMigrateAcceptsPoolParameters(t *testing.T) {
	t.Parallel()

	const pool = "&pool_max_conns=4&pool_max_conn_lifetime=1h"
	latest, err := migrations.Latest()
	require.NoError(t, err)

	tests := []struct {
		args       []string
		url        func(t *testing.T) string
		wantStdout string
	}{
		{args: []string{"migrate", "version"}, url: func(t *testing.T) string { return dbtest.URL(t) }, wantStdout: fmt.Sprintf("schema version %d of %d\n", latest, latest)},
		{args: []string{"migrate", "up"}, url: func(t *testing.T) string { return dbtest.MissingURL(t) }, wantStdout: fmt.Sprintf("schema version %d of %d\n", latest, latest)},
		{args: []string{"migrate", "down"}, url: func(t *testing.T) string { return dbtest.URL(t) }, wantStdout: fmt.Sprintf("schema version %d of %d\n", latest-1, latest)},
		{args: []string{"keys", "create", "shop"}, url: func(t *testing.T) string { return dbtest.URL(t) }, wantStdout: "easel_"},
		{args: []string{"keys", "list"}, url: func(t *testing.T) string { return dbtest.URL(t) }, wantStdout: ""}, // no keys: stdout stays empty
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()

			env := map[string]string{"DATABASE_URL": tt.url(t) + pool}
			code, stdout, stderr := easel(t, context.Background(), env, tt.args...)
			require.Zero(t, code, stderr)
			require.Contains(t, stdout, tt.wantStdout)
		})
	}
}

// setSchemaVersion records version and dirty as a failed migration would.
func setSchemaVersion(t *testing.T, url string, version uint, dirty bool) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `UPDATE schema_migrations SET version = $1, dirty = $2`, version, dirty)
	require.NoError(t, err)
}

func TestMigrateCommands(t *testing.T) {
	t.Parallel()

	latest, err := migrations.Latest()
	require.NoError(t, err)
	migrated := func(t *testing.T) string { return dbtest.URL(t) }
	dirty := func(t *testing.T) string {
		url := dbtest.URL(t)
		setSchemaVersion(t, url, latest, true)
		return url
	}
	// withReplica is a database at version with an easel serve replica
	// connected, as its pool names itself.
	withReplica := func(version uint) func(t *testing.T) string {
		return func(t *testing.T) string {
			url := dbtest.URL(t)
			require.NoError(t, migrations.Down(context.Background(), url, nil, int(latest-version)))
			cfg, err := pgx.ParseConfig(url)
			require.NoError(t, err)
			cfg.RuntimeParams["application_name"] = "easel all"
			conn, err := pgx.ConnectConfig(context.Background(), cfg)
			require.NoError(t, err)
			t.Cleanup(func() { conn.Close(context.Background()) })
			return url
		}
	}
	atVersion := func(version uint) func(t *testing.T) string {
		return func(t *testing.T) string {
			url := dbtest.URL(t)
			require.NoError(t, migrations.Down(context.Background(), url, nil, int(latest-version)))
			return url
		}
	}

	tests := []struct {
		name       string
		url        func(t *testing.T) string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr []string
		// wantVersion and wantDirty are the schema's afterwards.
		wantVersion uint
		wantDirty   bool
	}{
		{
			name: "version", url: migrated, args: []string{"version"},
			wantStdout: fmt.Sprintf("schema version %d of %d\n", latest, latest), wantVersion: latest,
		},
		{
			name: "version, dirty: exits 1 naming the commands", url: dirty, args: []string{"version"}, wantCode: 1,
			wantStdout:  fmt.Sprintf("schema version %d of %d (dirty)\n", latest, latest),
			wantStderr:  []string{fmt.Sprintf("easel: dirty schema version %d: ", latest), fmt.Sprintf("run `easel migrate force %d`", latest)},
			wantVersion: latest, wantDirty: true,
		},
		{
			name: "up, dirty", url: dirty, args: []string{"up"}, wantCode: 1,
			wantStderr:  []string{fmt.Sprintf("easel: migrate up: dirty schema version %d: ", latest), fmt.Sprintf("run `easel migrate force %d`", latest)},
			wantVersion: latest, wantDirty: true,
		},
		{
			name: "down, dirty", url: dirty, args: []string{"down"}, wantCode: 1,
			wantStderr:  []string{fmt.Sprintf("easel: migrate down 1: dirty schema version %d: ", latest)},
			wantVersion: latest, wantDirty: true,
		},
		{
			name: "force the version before", url: dirty, args: []string{"force", fmt.Sprint(latest - 1)},
			wantStdout: fmt.Sprintf("schema version %d of %d\n", latest-1, latest), wantVersion: latest - 1,
		},
		{
			name: "force past the newest: a usage error", url: dirty, args: []string{"force", fmt.Sprint(latest + 1)}, wantCode: 2,
			wantStderr:  []string{fmt.Sprintf("easel: migrate force %d: this binary's migrations go up to version %d; nothing was changed", latest+1, latest)},
			wantVersion: latest, wantDirty: true,
		},
		{
			name: "force without V", url: dirty, args: []string{"force"}, wantCode: 2,
			wantStderr: []string{"easel: migrate force V: missing V"}, wantVersion: latest, wantDirty: true,
		},
		{
			name: "force a word", url: dirty, args: []string{"force", "latest"}, wantCode: 2,
			wantStderr: []string{`migrate force V: V must be a version, 0 or more, got "latest"`}, wantVersion: latest, wantDirty: true,
		},
		{
			name: "force a negative version", url: dirty, args: []string{"force", "-1"}, wantCode: 2,
			wantStderr: []string{`got "-1"`}, wantVersion: latest, wantDirty: true,
		},
		{
			name: "force two versions", url: dirty, args: []string{"force", "1", "2"}, wantCode: 2,
			wantStderr: []string{`unexpected argument "2" to easel migrate force`}, wantVersion: latest, wantDirty: true,
		},
		{
			name: "up, a breaking migration pending while a replica is connected: refused", url: withReplica(26), args: []string{"up"}, wantCode: 1,
			wantStderr: []string{
				"easel: migrate up: migration 000027_nsfw_unknown_polled_results.up.sql breaks older binaries",
				`application_name "easel all"`, "run `easel migrate up --allow-running-replicas`",
			},
			wantVersion: 26,
		},
		{
			name: "up --allow-running-replicas", url: withReplica(26), args: []string{"up", "--allow-running-replicas"},
			wantStdout:  fmt.Sprintf("schema version %d of %d\n", latest, latest),
			wantVersion: latest,
		},
		{
			name: "-allow-running-replicas=true before up", url: withReplica(26), args: []string{"-allow-running-replicas=true", "up"},
			wantStdout:  fmt.Sprintf("schema version %d of %d\n", latest, latest),
			wantVersion: latest,
		},
		{
			name: "up --allow-running-replicas=false: refused", url: withReplica(26), args: []string{"up", "--allow-running-replicas=false"}, wantCode: 1,
			wantStderr: []string{"breaks older binaries"}, wantVersion: 26,
		},
		{
			name: "up --allow-running-replicas=maybe: a usage error", url: withReplica(26), args: []string{"up", "--allow-running-replicas=maybe"}, wantCode: 2,
			wantStderr: []string{`easel: invalid value "maybe" for flag --allow-running-replicas`}, wantVersion: 26,
		},
		{
			name: "down --allow-running-replicas: a usage error", url: migrated, args: []string{"down", "--allow-running-replicas"}, wantCode: 2,
			wantStderr: []string{"easel: migrate down takes no flag --allow-running-replicas: it is for easel migrate up only"}, wantVersion: latest,
		},
		{
			name: "another flag: a usage error", url: migrated, args: []string{"up", "--allow-old-replicas"}, wantCode: 2,
			wantStderr: []string{"migrate takes no flag --allow-old-replicas"}, wantVersion: latest,
		},
		{
			name: "down N", url: atVersion(10), args: []string{"down", "3"},
			wantStdout: fmt.Sprintf("schema version 7 of %d\n", latest), wantVersion: 7,
		},
		{
			name: "down more than the version: a usage error", url: atVersion(10), args: []string{"down", "20"}, wantCode: 2,
			wantStderr:  []string{"easel: migrate down 20: the schema is at version 10, so at most 10 migrations can be reverted (easel migrate down 10 reverts them all); nothing was changed"},
			wantVersion: 10,
		},
		{
			name: "down every migration", url: atVersion(10), args: []string{"down", "10"},
			wantStdout: fmt.Sprintf("schema version 0 of %d\n", latest), wantVersion: 0,
		},
		{
			name: "down from version 0: a usage error", url: atVersion(0), args: []string{"down"}, wantCode: 2,
			wantStderr:  []string{"easel: migrate down 1: the schema is at version 0: there is no migration to revert; nothing was changed"},
			wantVersion: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			url := tt.url(t)
			code, stdout, stderr := easel(t, context.Background(), map[string]string{"DATABASE_URL": url}, append([]string{"migrate"}, tt.args...)...)
			require.Equal(t, tt.wantCode, code, "stderr: %s", stderr)
			require.Equal(t, tt.wantStdout, stdout)
			for _, want := range tt.wantStderr {
				require.Contains(t, stderr, want)
			}
			if tt.wantStderr == nil {
				require.Empty(t, stderr)
			}
			version, dirty, err := migrations.CurrentVersion(context.Background(), url)
			require.NoError(t, err)
			require.Equal(t, tt.wantVersion, version)
			require.Equal(t, tt.wantDirty, dirty)
		})
	}
}

func TestMigrateHelpNamesForce(t *testing.T) {
	t.Parallel()

	code, stdout, _ := easel(t, cancelled(), map[string]string{"DATABASE_URL": unreachableDB}, "migrate", "--help")
	require.Zero(t, code)
	require.Contains(t, stdout, "usage: easel migrate up | down [N] | version | force V")
	require.Contains(t, stdout, "up --allow-running-replicas applies it anyway")
	require.Contains(t, stdout, "force V   record V as the schema version")
	require.Contains(t, stdout, "exits\n            1 when the version is dirty")
}
