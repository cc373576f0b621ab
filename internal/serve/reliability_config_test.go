package serve_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/serve"
)

func TestReliabilityConfigFromEnv(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		env     map[string]string
		want    serve.Config // only the reliability fields are compared
		wantErr string
	}{
		{
			name: "defaults",
			want: serve.Config{MaxInflight: 32, ClientMaxPending: 10000, PollAfter: 2 * time.Minute, Timeout: 30 * time.Minute, RescueAfter: time.Minute},
		},
		{
			name: "set",
			env: map[string]string{"FAL_MAX_INFLIGHT": "8", "EASEL_CLIENT_MAX_INFLIGHT": "3", "EASEL_CLIENT_MAX_PENDING": "500",
				"EASEL_POLL_AFTER": "45s", "EASEL_TIMEOUT": "1h", "EASEL_RESCUE_AFTER": "90s"},
			want: serve.Config{MaxInflight: 8, ClientMaxInflight: 3, ClientMaxPending: 500, PollAfter: 45 * time.Second,
				Timeout: time.Hour, RescueAfter: 90 * time.Second},
		},
		{
			name: "no pending cap",
			env:  map[string]string{"EASEL_CLIENT_MAX_PENDING": "0"},
			want: serve.Config{MaxInflight: 32, PollAfter: 2 * time.Minute, Timeout: 30 * time.Minute, RescueAfter: time.Minute},
		},
		{
			name: "pool size",
			env:  map[string]string{"EASEL_DB_MAX_CONNS": "50"},
			want: serve.Config{MaxInflight: 32, ClientMaxPending: 10000, PollAfter: 2 * time.Minute, Timeout: 30 * time.Minute, RescueAfter: time.Minute, DBMaxConns: 50},
		},
		{name: "bad pool size", env: map[string]string{"EASEL_DB_MAX_CONNS": "-3"}, wantErr: `EASEL_DB_MAX_CONNS: "-3" is not a non-negative integer`},
		{name: "negative client cap", env: map[string]string{"EASEL_CLIENT_MAX_INFLIGHT": "-1"}, wantErr: `EASEL_CLIENT_MAX_INFLIGHT: "-1" is not a non-negative integer`},
		{name: "bad pending cap", env: map[string]string{"EASEL_CLIENT_MAX_PENDING": "lots"}, wantErr: `EASEL_CLIENT_MAX_PENDING: "lots" is not a non-negative integer`},
		{name: "not a duration", env: map[string]string{"EASEL_POLL_AFTER": "2"}, wantErr: `EASEL_POLL_AFTER: "2" is not a positive duration`},
		{name: "zero timeout", env: map[string]string{"EASEL_TIMEOUT": "0s"}, wantErr: `EASEL_TIMEOUT: "0s" is not a positive duration`},
		{name: "negative rescue", env: map[string]string{"EASEL_RESCUE_AFTER": "-1m"}, wantErr: `EASEL_RESCUE_AFTER: "-1m" is not a positive duration`},
		{
			name: "timeout just above twice poll after",
			env:  map[string]string{"EASEL_POLL_AFTER": "10s", "EASEL_TIMEOUT": "21s", "EASEL_RESCUE_AFTER": "5s"},
			want: serve.Config{MaxInflight: 32, ClientMaxPending: 10000, PollAfter: 10 * time.Second, Timeout: 21 * time.Second, RescueAfter: 5 * time.Second},
		},
		{
			name:    "timeout twice poll after",
			env:     map[string]string{"EASEL_POLL_AFTER": "10m", "EASEL_TIMEOUT": "20m"},
			wantErr: "EASEL_TIMEOUT: 20m0s must be more than twice EASEL_POLL_AFTER (10m0s)",
		},
		{
			name:    "timeout below the default poll after",
			env:     map[string]string{"EASEL_TIMEOUT": "3m"},
			wantErr: "EASEL_TIMEOUT: 3m0s must be more than twice EASEL_POLL_AFTER (2m0s)",
		},
		{name: "rescue below the floor", env: map[string]string{"EASEL_RESCUE_AFTER": "4s"}, wantErr: "EASEL_RESCUE_AFTER: 4s is below the minimum of 5s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := serve.ConfigFromEnv(func(name string) string { return tt.env[name] })
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			got := serve.Config{MaxInflight: cfg.MaxInflight, ClientMaxInflight: cfg.ClientMaxInflight, ClientMaxPending: cfg.ClientMaxPending,
				PollAfter: cfg.PollAfter, Timeout: cfg.Timeout, RescueAfter: cfg.RescueAfter, DBMaxConns: cfg.DBMaxConns}
			require.Equal(t, tt.want, got)
		})
	}
}
