package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/migrations"
)

// The commands an older binary runs during a rolling deploy or after a
// rollback, on a schema a newer easel migrated: they go on when the
// schema's easel_schema_compatibility row says this binary runs on it, and
// change nothing.
func TestCommandsOnNewerSchema(t *testing.T) {
	t.Parallel()

	latest, err := migrations.Latest()
	require.NoError(t, err)
	next := latest + 1
	// newer leaves the schema as a migration after this binary's, writing
	// easel_schema_compatibility with oldest, would.
	newer := func(oldest uint) func(t *testing.T) string {
		return func(t *testing.T) string {
			t.Helper()
			url := dbtest.URL(t)
			conn, err := pgx.Connect(context.Background(), url)
			require.NoError(t, err)
			defer conn.Close(context.Background())
			_, err = conn.Exec(context.Background(), `UPDATE schema_migrations SET version = $1`, next)
			require.NoError(t, err)
			_, err = conn.Exec(context.Background(), `UPDATE easel_schema_compatibility SET schema_version = $1, oldest_compatible_version = $2`, next, oldest)
			require.NoError(t, err)
			return url
		}
	}
	compatible, incompatible := newer(latest), newer(next)
	warning := fmt.Sprintf("schema version %d is newer than this binary's %d, and compatible with it: running without migrating; upgrade this binary", next, latest)
	refusal := fmt.Sprintf("its oldest compatible version is %d", next)

	tests := []struct {
		name       string
		url        func(t *testing.T) string
		args       []string
		wantCode   int
		wantStdout string // contained
		wantStderr []string
	}{
		{
			name: "migrate up, compatible: nothing to do", url: compatible, args: []string{"migrate", "up"},
			wantStdout: fmt.Sprintf("schema version %d of %d\n", next, latest),
		},
		{
			name: "migrate up, incompatible", url: incompatible, args: []string{"migrate", "up"}, wantCode: 1,
			wantStderr: []string{"easel: migrate up: schema is newer than this easel binary", refusal, "`easel migrate down 1` with the newer easel"},
		},
		{name: "keys list, compatible", url: compatible, args: []string{"keys", "list"}, wantStderr: []string{"no API keys"}},
		{name: "keys create, compatible", url: compatible, args: []string{"keys", "create", "billing"}, wantStdout: "easel_", wantStderr: []string{`Created API key "billing"`}},
		{
			name: "keys list, incompatible", url: incompatible, args: []string{"keys", "list"}, wantCode: 1,
			wantStderr: []string{"easel: database ", "schema is newer than this easel binary", refusal},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			ctx := context.Background()
			url := tt.url(t)
			var stdout, stderr bytes.Buffer
			var logs syncBuffer
			getenv := func(k string) string {
				if k == "DATABASE_URL" {
					return url
				}
				return ""
			}
			logger := func() (*slog.Logger, error) { return slog.New(slog.NewTextHandler(&logs, nil)), nil }
			code := exitCode(run(ctx, tt.args, &stdout, &stderr, getenv, logger), &stderr)

			require.Equal(t, tt.wantCode, code, "stderr: %s", stderr.String())
			require.Contains(t, stdout.String(), tt.wantStdout)
			for _, want := range tt.wantStderr {
				require.Contains(t, stderr.String(), want)
			}
			if tt.wantCode == 0 {
				if tt.wantStderr == nil {
					require.Empty(t, stderr.String())
				}
				require.Contains(t, logs.String(), "level=WARN")
				require.Contains(t, logs.String(), warning)
			} else {
				require.NotContains(t, logs.String(), "level=WARN")
			}
			version, dirty, err := migrations.CurrentVersion(ctx, url)
			require.NoError(t, err)
			require.False(t, dirty)
			require.Equal(t, next, version, "the schema must not change")
		})
	}
}
