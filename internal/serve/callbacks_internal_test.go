package serve

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/callbacks"
)

// EASEL_ALLOW_PRIVATE_CALLBACKS as a list opens those ranges and nothing
// else: not this host, not cloud metadata, not the rest of the private
// network; true opens everything.
func TestCallbackRangesReachThePolicy(t *testing.T) {
	t.Parallel()
	const secret = "whsec_dGVzdC1rZXktb2YtZWFzZWwtY2FsbGJhY2tzLTMyYg=="
	_, nets, err := parseAllowPrivate("10.1.0.0/16,fd00:1::/32")
	require.NoError(t, err)

	for _, tt := range []struct {
		name      string
		cfg       Config
		admitted  []string
		forbidden []string
	}{
		{
			name:      "ranges",
			cfg:       Config{CallbackSecret: secret, AllowedCallbackNets: nets},
			admitted:  []string{"http://10.1.2.3/hook", "http://[fd00:1::7]/hook", "https://8.8.8.8/hook"},
			forbidden: []string{"http://10.2.0.1/hook", "http://127.0.0.1:8080/v1/generations", "http://169.254.169.254/latest/meta-data/", "http://[::1]/hook"},
		},
		{
			name:     "all",
			cfg:      Config{CallbackSecret: secret, AllowPrivateCallbacks: true},
			admitted: []string{"http://10.2.0.1/hook", "http://127.0.0.1:8080/hook", "http://169.254.169.254/"},
		},
		{
			name:      "none",
			cfg:       Config{CallbackSecret: secret},
			admitted:  []string{"https://8.8.8.8/hook"},
			forbidden: []string{"http://10.1.2.3/hook", "http://127.0.0.1:8080/hook"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			deliverer, checker, err := newCallbacks(tt.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
			require.NoError(t, err)
			require.NotNil(t, deliverer)
			for _, u := range tt.admitted {
				require.NoError(t, checker.CheckURL(context.Background(), u), u)
			}
			for _, u := range tt.forbidden {
				err := checker.CheckURL(context.Background(), u)
				require.True(t, errors.Is(err, callbacks.ErrForbiddenAddress), "%s: %v", u, err)
			}
		})
	}
}
