package bench

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/serve"
)

func TestServePoolMaxConns(t *testing.T) {
	t.Parallel()
	const url = "postgres://postgres@127.0.0.1:5432/easel"
	tests := []struct {
		name   string
		cfg    serve.Config
		url    string
		parsed int32
		want   int32
	}{
		{name: "Default", cfg: serve.Config{Workers: 16}, url: url, parsed: 4, want: int32(serve.DefaultDBMaxConns(16))},
		{name: "DatabaseURL", cfg: serve.Config{Workers: 16}, url: url + "?pool_max_conns=7", parsed: 7, want: 7},
		{name: "EaselDBMaxConnsWins", cfg: serve.Config{Workers: 16, DBMaxConns: 40}, url: url + "?pool_max_conns=7", parsed: 7, want: 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, servePoolMaxConns(tt.cfg, tt.url, tt.parsed))
		})
	}
}
