package serve_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/serve"
)

// Run refuses, before it touches the database, a configuration that would
// hand fal a webhook URL it cannot reach.
func TestRunRefusesUnreachablePublicURL(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{name: "fal without a public URL", env: map[string]string{"FAL_KEY": "secret-key"}, wantErr: "EASEL_PUBLIC_URL: must be set when FAL_KEY is set"},
		{
			name:    "fal with a loopback public URL",
			env:     map[string]string{"FAL_KEY": "secret-key", "EASEL_PUBLIC_URL": "http://127.0.0.1:8080"},
			wantErr: `EASEL_PUBLIC_URL: "http://127.0.0.1:8080" is a loopback or unspecified address, which fal cannot reach`,
		},
		{name: "worker without a public URL", env: map[string]string{"EASEL_ROLE": "worker"}, wantErr: "EASEL_PUBLIC_URL: must be set with --role worker"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.env["DATABASE_URL"] = "postgres://postgres@127.0.0.1:1/unreachable?sslmode=disable"
			cfg, err := serve.ConfigFromEnv(func(name string) string { return tt.env[name] })
			require.NoError(t, err)
			err = serve.Run(context.Background(), cfg, slog.New(slog.DiscardHandler), nil)
			require.ErrorContains(t, err, tt.wantErr)
			require.NotContains(t, err.Error(), "secret-key")
		})
	}
}
