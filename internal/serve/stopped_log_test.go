package serve_test

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/internal/serve"
)

// A clean shutdown ends the log with one line saying so, after everything
// the shutdown logs, so that a log without it was cut short.
func TestCleanShutdownLogsStoppedLast(t *testing.T) {
	t.Parallel()
	var logs logtest.Buffer
	b := setupWithConfig(t, func(*serve.Config) {}, &logs)
	b.enqueue(t, exampleInput)

	require.NoError(t, b.shutdown())

	records := logs.Records(t)
	require.NotEmpty(t, records)
	last := records[len(records)-1]
	require.Equal(t, "INFO", last["level"])
	require.Equal(t, "easel serve stopped", last["msg"])
	tookText, ok := last["shutdown_took"].(string)
	require.True(t, ok, "shutdown_took is %#v, not text", last["shutdown_took"])
	took, err := time.ParseDuration(tookText)
	require.NoError(t, err)
	require.Positive(t, took)
	require.Len(t, logs.Lines(t, "easel serve stopped"), 1)
}

// Run returning an error never says it stopped cleanly: cmd/easel logs
// the error.
func TestFailedRunLogsNoStopped(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = taken.Close() })
	cfg := testConfig(t, dbtest.URL(t))
	cfg.Addr = taken.Addr().String()
	var logs logtest.Buffer

	_, err = tryStart(t, cfg, &logs)
	require.ErrorContains(t, err, "listen on EASEL_ADDR")

	require.NotEmpty(t, logs.Records(t), "the start-up logged before failing")
	require.Empty(t, logs.Lines(t, "easel serve stopped"))
}
