package serve_test

import (
	"bytes"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/internal/serve"
)

// logRecord is one JSON log line.
type logRecord struct {
	Level        string `json:"level"`
	Msg          string `json:"msg"`
	ShutdownTook string `json:"shutdown_took"`
}

func logRecords(t *testing.T, logs string) []logRecord {
	t.Helper()
	var records []logRecord
	for line := range bytes.Lines([]byte(logs)) {
		var r logRecord
		require.NoError(t, json.Unmarshal(line, &r), string(line))
		records = append(records, r)
	}
	return records
}

// A clean shutdown ends the log with one line saying so, after everything
// the shutdown logs, so that a log without it was cut short.
func TestCleanShutdownLogsStoppedLast(t *testing.T) {
	t.Parallel()
	var logs logtest.Buffer
	b := setupWithConfig(t, func(*serve.Config) {}, &logs)
	b.enqueue(t, exampleInput)

	require.NoError(t, b.shutdown())

	records := logRecords(t, logs.String())
	require.NotEmpty(t, records)
	last := records[len(records)-1]
	require.Equal(t, "INFO", last.Level)
	require.Equal(t, "easel serve stopped", last.Msg)
	took, err := time.ParseDuration(last.ShutdownTook)
	require.NoError(t, err)
	require.Positive(t, took)
	stopped := 0
	for _, r := range records {
		if r.Msg == "easel serve stopped" {
			stopped++
		}
	}
	require.Equal(t, 1, stopped)
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

	records := logRecords(t, logs.String())
	require.NotEmpty(t, records, "the start-up logged before failing")
	for _, r := range records {
		require.NotEqual(t, "easel serve stopped", r.Msg)
	}
}
