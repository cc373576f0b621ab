package serve

import (
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
