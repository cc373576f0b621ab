package serve_test

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/serve"
)

// easel serve's connections carry its role in pg_stat_activity, unless
// DATABASE_URL names them.
func TestApplicationName(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		role      serve.Role
		urlParams string
		want      string
	}{
		{name: "all", role: serve.RoleAll, want: "easel all"},
		{name: "api", role: serve.RoleAPI, want: "easel api"},
		{name: "worker", role: serve.RoleWorker, want: "easel worker"},
		{name: "named by DATABASE_URL", role: serve.RoleAPI, urlParams: "&application_name=billing-easel", want: "billing-easel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := dbtest.URL(t)
			cfg := testConfig(t, url+tt.urlParams)
			cfg.Role = tt.role
			cfg.PublicURL = "http://127.0.0.1:1" // a worker's is required; no webhook comes here
			start(t, cfg, io.Discard)

			connCfg, err := pgx.ParseConfig(url)
			require.NoError(t, err)
			connCfg.RuntimeParams["application_name"] = "observer"
			conn, err := pgx.ConnectConfig(ctx, connCfg)
			require.NoError(t, err)
			t.Cleanup(func() { conn.Close(ctx) })
			// The migration's and the start-up checks' sessions end
			// as serve starts; its pool's stay.
			var names []string
			ok := assert.Eventually(t, func() bool {
				rows, err := conn.Query(ctx, `SELECT DISTINCT application_name FROM pg_stat_activity
					WHERE datname = current_database() AND pid <> pg_backend_pid() ORDER BY 1`)
				if err != nil {
					return false
				}
				names, err = pgx.CollectRows(rows, pgx.RowTo[string])
				// notify's listeners add their channel to the pool's name.
				names = slices.DeleteFunc(names, func(name string) bool { return strings.HasPrefix(name, tt.want+" notify ") })
				return err == nil && slices.Equal(names, []string{tt.want})
			}, 10*time.Second, 10*time.Millisecond)
			require.True(t, ok, "application names: %q, want only %q and its listeners'", names, tt.want)
		})
	}
}
