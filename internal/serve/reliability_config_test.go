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
		want    serve.Config // only the reliability fields, Workers and FalKey are compared
		wantErr string
		hidden  string // a secret the error must not show
	}{
		{
			name: "defaults",
			want: serve.Config{MaxInflight: 32, Workers: 16, ClientMaxPending: 10000, PollAfter: 2 * time.Minute, Timeout: 30 * time.Minute, RescueAfter: time.Minute},
		},
		{
			name: "set",
			env: map[string]string{"FAL_MAX_INFLIGHT": "8", "EASEL_CLIENT_MAX_INFLIGHT": "3", "EASEL_CLIENT_MAX_PENDING": "500",
				"EASEL_POLL_AFTER": "45s", "EASEL_TIMEOUT": "1h", "EASEL_RESCUE_AFTER": "90s"},
			want: serve.Config{MaxInflight: 8, Workers: 16, ClientMaxInflight: 3, ClientMaxPending: 500, PollAfter: 45 * time.Second,
				Timeout: time.Hour, RescueAfter: 90 * time.Second},
		},
		{
			name: "no pending cap",
			env:  map[string]string{"EASEL_CLIENT_MAX_PENDING": "0"},
			want: serve.Config{MaxInflight: 32, Workers: 16, PollAfter: 2 * time.Minute, Timeout: 30 * time.Minute, RescueAfter: time.Minute},
		},
		{
			name: "pool size",
			env:  map[string]string{"EASEL_DB_MAX_CONNS": "50"},
			want: serve.Config{MaxInflight: 32, Workers: 16, ClientMaxPending: 10000, PollAfter: 2 * time.Minute, Timeout: 30 * time.Minute, RescueAfter: time.Minute, DBMaxConns: 50},
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
			want: serve.Config{MaxInflight: 32, Workers: 16, ClientMaxPending: 10000, PollAfter: 10 * time.Second, Timeout: 21 * time.Second, RescueAfter: 5 * time.Second},
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
		{name: "most workers River runs", env: map[string]string{"EASEL_WORKERS": "10000"}, want: withDefaults(serve.Config{Workers: 10000})},
		{name: "more workers than River runs", env: map[string]string{"EASEL_WORKERS": "10001"}, wantErr: "EASEL_WORKERS: 10001 is more than River's maximum of 10000 workers for a queue"},
		{name: "no workers", env: map[string]string{"EASEL_WORKERS": "0"}, wantErr: `EASEL_WORKERS: "0" is not a positive integer`},
		{name: "pool too large", env: map[string]string{"EASEL_DB_MAX_CONNS": "4294967297"}, wantErr: "EASEL_DB_MAX_CONNS: 4294967297 is more than the pool's maximum of 2147483647"},
		{
			name: "database URL that is no URL", env: map[string]string{"DATABASE_URL": "notaurl"},
			wantErr: "DATABASE_URL: not a Postgres URL (postgres://user:password@host:5432/easel) or keyword/value string: failed to parse as keyword/value (the value is not shown",
			hidden:  "notaurl",
		},
		{
			// pgx's wrapped error would quote what follows the '@'.
			name: "database URL with a space and an '@' in its password", env: map[string]string{"DATABASE_URL": "postgres://u:p@ss word@127.0.0.1/db"},
			wantErr: "DATABASE_URL: not a Postgres URL (postgres://user:password@host:5432/easel) or keyword/value string: failed to parse as URL; " +
				"percent-encode any of @ : / ? # [ ] % and spaces in the user name and password (the value is not shown",
			hidden: "ss word",
		},
		{
			name: "database URL with a bad port", env: map[string]string{"DATABASE_URL": "postgres://easel:hunter2@db:99999/easel"},
			wantErr: "DATABASE_URL: not a Postgres URL (postgres://user:password@host:5432/easel) or keyword/value string: invalid port", hidden: "hunter2",
		},
		{
			// pgx masks a password only as well as it reads the string.
			name: "database URL with a bad escape in its password", env: map[string]string{"DATABASE_URL": "postgres://easel:hun%ter2@db/easel"},
			wantErr: "DATABASE_URL: ", hidden: "ter2",
		},
		{
			name: "database URL with a bad pool parameter", env: map[string]string{"DATABASE_URL": "postgres://easel:hunter2@db/easel?pool_max_conns=lots"},
			wantErr: "DATABASE_URL: not a Postgres URL (postgres://user:password@host:5432/easel) or keyword/value string: cannot parse pool_max_conns", hidden: "hunter2",
		},
		{
			name: "keyword/value database URL", env: map[string]string{"DATABASE_URL": "host=db user=easel password=hunter2 dbname=easel"},
			want: withDefaults(serve.Config{}),
		},
		{
			name: "fal key from a secret file", env: map[string]string{"FAL_KEY": "key-id:key-secret\n"},
			want: withDefaults(serve.Config{FalKey: "key-id:key-secret"}),
		},
		{name: "fal key with surrounding spaces", env: map[string]string{"FAL_KEY": " \tkey-id:key-secret\r\n"}, want: withDefaults(serve.Config{FalKey: "key-id:key-secret"})},
		{
			name: "blank fal key", env: map[string]string{"FAL_KEY": "\n"},
			wantErr: "FAL_KEY: is set but blank; unset it to run the in-process simulator instead of fal",
		},
		{
			name: "fal key with a newline inside", env: map[string]string{"FAL_KEY": "key-id:key-secret\nkey-id:other-secret"},
			wantErr: "FAL_KEY: has a space, control or non-ASCII character at byte 18, which no fal key has (the key is not shown)", hidden: "key-secret",
		},
		{
			name: "fal key with a space inside", env: map[string]string{"FAL_KEY": "key-id: key-secret"},
			wantErr: "FAL_KEY: has a space, control or non-ASCII character at byte 8", hidden: "key-secret",
		},
		{
			name: "fal key with a non-ASCII character", env: map[string]string{"FAL_KEY": "key-id:key-secret\u00a0x"},
			wantErr: "FAL_KEY: has a space, control or non-ASCII character at byte 18", hidden: "key-secret",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := serve.ConfigFromEnv(func(name string) string { return tt.env[name] })
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				if tt.hidden != "" {
					require.NotContains(t, err.Error(), tt.hidden)
				}
				return
			}
			require.NoError(t, err)
			got := serve.Config{MaxInflight: cfg.MaxInflight, Workers: cfg.Workers, ClientMaxInflight: cfg.ClientMaxInflight, ClientMaxPending: cfg.ClientMaxPending,
				PollAfter: cfg.PollAfter, Timeout: cfg.Timeout, RescueAfter: cfg.RescueAfter, DBMaxConns: cfg.DBMaxConns, FalKey: cfg.FalKey}
			require.Equal(t, tt.want, got)
		})
	}
}

// withDefaults is want with the defaults of the fields
// TestReliabilityConfigFromEnv compares, where want leaves them zero.
func withDefaults(want serve.Config) serve.Config {
	if want.MaxInflight == 0 {
		want.MaxInflight = 32
	}
	if want.Workers == 0 {
		want.Workers = 16
	}
	if want.ClientMaxPending == 0 {
		want.ClientMaxPending = 10000
	}
	if want.PollAfter == 0 {
		want.PollAfter = 2 * time.Minute
	}
	if want.Timeout == 0 {
		want.Timeout = 30 * time.Minute
	}
	if want.RescueAfter == 0 {
		want.RescueAfter = time.Minute
	}
	return want
}
