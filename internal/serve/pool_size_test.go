package serve_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
)

// A DATABASE_URL shared with a service's own pgxpool may carry pool_*
// parameters: serve starts with them (Postgres would refuse them as
// settings) and sizes its pool by EASEL_DB_MAX_CONNS, else by
// pool_max_conns, else by its default.
func TestPoolSize(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		urlParams  string
		dbMaxConns int
		want       string
	}{
		{name: "default", want: "24"}, // EASEL_WORKERS 16 + 8
		{name: "pool_max_conns in the URL", urlParams: "&pool_max_conns=5&pool_max_conn_idle_time=1m", want: "5"},
		{name: "EASEL_DB_MAX_CONNS wins", urlParams: "&pool_max_conns=5", dbMaxConns: 7, want: "7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, dbtest.URL(t)+tt.urlParams)
			cfg.Workers = 16
			cfg.DBMaxConns = tt.dbMaxConns
			b := start(t, cfg, io.Discard)

			status, body := b.do(t, http.MethodGet, "/metrics", nil, nil)
			require.Equal(t, http.StatusOK, status)
			require.Contains(t, strings.Split(string(body), "\n"), "easel_db_pool_max_connections "+tt.want)
		})
	}
}
