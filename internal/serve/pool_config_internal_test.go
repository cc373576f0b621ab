package serve

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A new connection gives up after defaultConnectTimeout, so that a Postgres
// accepting connections and never answering fails requests rather than
// holding them, unless DATABASE_URL sets its own connect_timeout.
func TestPoolConfigConnectTimeout(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		url  string
		want time.Duration
	}{
		{name: "default", url: "postgres://postgres@127.0.0.1:5432/easel?sslmode=disable", want: defaultConnectTimeout},
		{name: "in the URL", url: "postgres://postgres@127.0.0.1:5432/easel?sslmode=disable&connect_timeout=12", want: 12 * time.Second},
		{name: "in the URL, first", url: "postgres://postgres@127.0.0.1:5432/easel?connect_timeout=1&sslmode=disable", want: time.Second},
		{name: "zero in the URL, waiting forever", url: "postgres://postgres@127.0.0.1:5432/easel?sslmode=disable&connect_timeout=0", want: 0},
		{name: "keyword/value", url: "host=127.0.0.1 user=postgres dbname=easel sslmode=disable connect_timeout=3", want: 3 * time.Second},
		{name: "keyword/value, default", url: "host=127.0.0.1 user=postgres dbname=easel sslmode=disable", want: defaultConnectTimeout},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			poolCfg, err := poolConfig(Config{DatabaseURL: tt.url, Workers: 1, Role: RoleAll})
			require.NoError(t, err)
			require.Equal(t, tt.want, poolCfg.ConnConfig.ConnectTimeout)
		})
	}
}

func TestPoolConfigRefusesBadURL(t *testing.T) {
	t.Parallel()
	_, err := poolConfig(Config{DatabaseURL: "postgres://postgres@127.0.0.1:5432/easel?connect_timeout=soon"})
	require.ErrorContains(t, err, "parse DATABASE_URL")
}
