package serve_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/internal/serve"
)

// The start-up line says which fal the process talks to, never with what
// key.
func TestServingLogNamesFalQueueURL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		configure func(*serve.Config)
		want      func(t *testing.T, queueURL string)
	}{
		{
			name: "fal", configure: onFal,
			want: func(t *testing.T, queueURL string) { require.Equal(t, "https://192.0.2.1", queueURL) },
		},
		{
			name: "fal through a proxy with a password",
			configure: func(cfg *serve.Config) {
				onFal(cfg)
				cfg.FalQueueURL = "https://easel:proxy-secret@192.0.2.1"
			},
			want: func(t *testing.T, queueURL string) { require.Equal(t, "https://easel:xxxxx@192.0.2.1", queueURL) },
		},
		{
			name: "in-process simulator", configure: withInProcessSimulator,
			want: func(t *testing.T, queueURL string) {
				require.True(t, strings.HasPrefix(queueURL, "http://127.0.0.1:"), "the simulator's own loopback address, not fal's: %s", queueURL)
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs logtest.Buffer
			setupWithConfig(t, tt.configure, &logs)

			lines := logs.Lines(t, "easel serving")
			require.Len(t, lines, 1)
			queueURL, ok := lines[0]["fal_queue_url"].(string)
			require.True(t, ok, "fal_queue_url is %#v", lines[0]["fal_queue_url"])
			tt.want(t, queueURL)
			require.NotContains(t, logs.String(), testFalKey)
			require.NotContains(t, logs.String(), "proxy-secret")
			require.NotContains(t, logs.String(), serve.SimulatorKey)
		})
	}
}
