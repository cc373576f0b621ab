package serve

import (
	"errors"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckPublicURL(t *testing.T) {
	t.Parallel()

	const realFal = "https://queue.fal.run"
	for _, tt := range []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "simulator, unset", cfg: Config{Role: RoleAll}},
		{name: "simulator, loopback", cfg: Config{Role: RoleAll, PublicURL: "http://127.0.0.1:8080"}},
		{name: "local fal, unset", cfg: Config{Role: RoleAll, FalKey: "k", FalQueueURL: "http://127.0.0.1:9090"}},
		{name: "local fal by name, loopback", cfg: Config{Role: RoleAll, FalKey: "k", FalQueueURL: "http://localhost:9090", PublicURL: "http://localhost:8080"}},
		{name: "fal, public", cfg: Config{Role: RoleAll, FalKey: "k", FalQueueURL: realFal, PublicURL: "https://easel.example.com"}},
		{name: "fal, private address", cfg: Config{Role: RoleAll, FalKey: "k", FalQueueURL: realFal, PublicURL: "http://10.0.0.5:8080"}},
		{name: "api role, fal, unset", cfg: Config{Role: RoleAPI, FalKey: "k", FalQueueURL: realFal}},
		{name: "worker, simulator, set", cfg: Config{Role: RoleWorker, PublicURL: "http://127.0.0.1:8080"}},
		{
			name:    "fal, unset",
			cfg:     Config{Role: RoleAll, FalKey: "k", FalQueueURL: realFal},
			wantErr: "EASEL_PUBLIC_URL: must be set when FAL_KEY is set: fal delivers every result to it",
		},
		{
			name:    "fal, loopback",
			cfg:     Config{Role: RoleAll, FalKey: "k", FalQueueURL: realFal, PublicURL: "http://127.0.0.1:8080"},
			wantErr: `EASEL_PUBLIC_URL: "http://127.0.0.1:8080" is a loopback or unspecified address, which fal cannot reach`,
		},
		{
			name:    "fal, localhost",
			cfg:     Config{Role: RoleAll, FalKey: "k", FalQueueURL: realFal, PublicURL: "http://LocalHost:8080"},
			wantErr: `EASEL_PUBLIC_URL: "http://LocalHost:8080" is a loopback`,
		},
		{
			name:    "fal, IPv6 loopback",
			cfg:     Config{Role: RoleAll, FalKey: "k", FalQueueURL: realFal, PublicURL: "http://[::1]:8080"},
			wantErr: `EASEL_PUBLIC_URL: "http://[::1]:8080" is a loopback`,
		},
		{
			name:    "fal, unspecified",
			cfg:     Config{Role: RoleWorker, FalKey: "k", FalQueueURL: realFal, PublicURL: "http://0.0.0.0:8080"},
			wantErr: `EASEL_PUBLIC_URL: "http://0.0.0.0:8080" is a loopback or unspecified address`,
		},
		{
			name:    "worker, simulator, unset",
			cfg:     Config{Role: RoleWorker},
			wantErr: "EASEL_PUBLIC_URL: must be set with --role worker",
		},
		{
			name:    "worker, fal, unset",
			cfg:     Config{Role: RoleWorker, FalKey: "k", FalQueueURL: realFal},
			wantErr: "EASEL_PUBLIC_URL: must be set with --role worker",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.checkPublicURL()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			require.NotContains(t, err.Error(), "\n", "one line")
		})
	}
}

func TestListenerURL(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		addr *net.TCPAddr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "http://127.0.0.1:8080"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 8080}, "http://127.0.0.1:8080"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 8080}, "http://127.0.0.1:8080"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 9000}, "http://[::1]:9000"},
		{&net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 80}, "http://10.0.0.5:80"},
	} {
		require.Equal(t, tt.want, listenerURL(tt.addr), tt.addr.String())
	}
}

// LocalURL is where this host dials EASEL_ADDR; an address easel serve
// could not listen on is an error naming the variable, not a URL.
func TestLocalURL(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		addr, want, wantErr string
	}{
		{addr: "127.0.0.1:8080", want: "http://127.0.0.1:8080"},
		{addr: "0.0.0.0:8080", want: "http://127.0.0.1:8080"},
		{addr: "[::]:8080", want: "http://127.0.0.1:8080"},
		{addr: ":8080", want: "http://127.0.0.1:8080"},
		{addr: "[::1]:8080", want: "http://[::1]:8080"},
		{addr: "[fe80::1%eth0]:8080", want: "http://[fe80::1%25eth0]:8080"},
		{addr: "easel.internal:http", want: "http://easel.internal:80"},
		{addr: "bogus", wantErr: `EASEL_ADDR: "bogus": not host:port`},
		{addr: "127.0.0.1:99999", wantErr: `EASEL_ADDR: "127.0.0.1:99999": port "99999" is not a number from 0 to 65535 nor a known service`},
		{addr: "127.0.0.1:nope", wantErr: `EASEL_ADDR: "127.0.0.1:nope": port "nope" is not`},
		{addr: "a b:80", wantErr: `EASEL_ADDR: "a b:80": host "a b" is not a host name or IP address`},
	} {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			got, err := LocalURL(tt.addr)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.ErrorIs(t, err, ErrConfig)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.NoError(t, CheckAddr(tt.addr))
		})
	}
}

// A listen error names EASEL_ADDR unless the caller says the address came
// from elsewhere.
func TestListenError(t *testing.T) {
	t.Parallel()
	err := &ListenError{Addr: "127.0.0.1:80", Err: errors.New("bind: permission denied")}
	require.EqualError(t, err, "listen on EASEL_ADDR 127.0.0.1:80: bind: permission denied")
	err.Source = "--addr"
	require.EqualError(t, err, "listen on --addr 127.0.0.1:80: bind: permission denied")
}

// checkPublicURL's errors are bad settings, which easel exits 2 for.
func TestCheckPublicURLIsErrConfig(t *testing.T) {
	t.Parallel()
	require.ErrorIs(t, (&Config{Role: RoleWorker}).checkPublicURL(), ErrConfig)
	require.ErrorIs(t, checkDatabaseURL("postgres://u:p@ss word@127.0.0.1/db"), ErrConfig)
}
