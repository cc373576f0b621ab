package bench

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
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

// A machine too busy for River to complete a job within the anchor's
// duration must not report that River does 0 jobs/s.
func TestMeasureRiverNeverZero(t *testing.T) {
	t.Parallel()
	rate, err := measureRiver(context.Background(), dbtest.URL(t), serve.Config{Workers: 2}, 20, time.Nanosecond,
		slog.New(slog.DiscardHandler), func(string, ...any) {})
	require.NoError(t, err)
	require.Positive(t, rate)
}
