package serve_test

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/serve"
	"github.com/easelhq/easel/store"
)

// The processes that run workers, and so hold a fal client, listen for
// superseded requests' cancels to send them at once; an API-only process,
// which cannot send them, does not.
func TestWorkerRolesListenForQueuedCancels(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		role serve.Role
		want int
	}{
		{role: serve.RoleAll, want: 1},
		{role: serve.RoleWorker, want: 1},
		{role: serve.RoleAPI, want: 0},
	} {
		t.Run(string(tt.role), func(t *testing.T) {
			t.Parallel()
			b := setupWithConfig(t, func(cfg *serve.Config) {
				cfg.Role = tt.role
				if tt.role == serve.RoleWorker {
					cfg.PublicURL = "https://easel.example" // the API processes'
				}
			}, io.Discard)
			listening := func(channel string) int {
				var n int
				require.NoError(t, b.pool.QueryRow(b.ctx, `
					SELECT count(*) FROM pg_stat_activity
					WHERE datname = current_database() AND application_name = $1 AND query LIKE 'LISTEN %'`,
					"easel "+string(tt.role)+" notify "+channel).Scan(&n))
				return n
			}
			if tt.want == 0 {
				// Its ?wait listener, started beside where a sender would be.
				require.Eventually(t, func() bool { return listening(store.GenerationFinishedChannel) == 1 }, 10*time.Second, 10*time.Millisecond)
			}
			require.Eventually(t, func() bool { return listening(store.FalCancelQueuedChannel) == tt.want }, 10*time.Second, 10*time.Millisecond)
		})
	}
}
