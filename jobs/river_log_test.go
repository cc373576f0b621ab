package jobs_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/jobs"
)

// River's Info records are mostly routine (the producers' job counts every
// few seconds); at Info only its lifecycle and job failures get through,
// while Debug shows everything and Warn and above always pass.
func TestRiverLogger(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		logLevel slog.Level
		level    slog.Level
		msg      string
		kept     bool
	}{
		{"job counts dropped at info", slog.LevelInfo, slog.LevelInfo, "producer: Producer job counts", false},
		{"job counts kept at debug", slog.LevelDebug, slog.LevelInfo, "producer: Producer job counts", true},
		{"maintenance report dropped at info", slog.LevelInfo, slog.LevelInfo, "JobCleaner: Ran successfully", false},
		{"client started kept", slog.LevelInfo, slog.LevelInfo, "River client started", true},
		{"client stopped kept", slog.LevelInfo, slog.LevelInfo, "River client stopped", true},
		{"job error kept", slog.LevelInfo, slog.LevelInfo, "JobExecutor: Job errored; retrying", true},
		{"client started dropped at warn", slog.LevelWarn, slog.LevelInfo, "River client started", false},
		{"warning kept", slog.LevelInfo, slog.LevelWarn, "Client: Soft stop timeout; cancelling remaining job contexts", true},
		{"error kept", slog.LevelInfo, slog.LevelError, "producer: Error fetching jobs", true},
		{"debug dropped at info", slog.LevelInfo, slog.LevelDebug, "Client: Stopping producers", false},
		{"debug kept at debug", slog.LevelDebug, slog.LevelDebug, "Client: Stopping producers", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			logs := &bytes.Buffer{}
			cfg := jobs.Config{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: tc.logLevel}))}
			logger := jobs.RiverConfig(cfg, river.NewWorkers()).Logger.With("queue", "default")
			logger.Log(context.Background(), tc.level, tc.msg, "num_jobs_running", 1)
			if tc.kept {
				require.Contains(t, logs.String(), tc.msg)
				require.Contains(t, logs.String(), `"queue":"default"`, "attributes pass unchanged")
			} else {
				require.Empty(t, logs.String())
			}
		})
	}
}
