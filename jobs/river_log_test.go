package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/logtest"
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

// failingArgs is a job whose first attempt fails.
type failingArgs struct{}

func (failingArgs) Kind() string { return "easel_test_failing" }

type failingWorker struct {
	river.WorkerDefaults[failingArgs]
}

func (failingWorker) Work(context.Context, *river.Job[failingArgs]) error {
	return errors.New("the receiver is down")
}

// The messages kept at Info are River's own: a real client's start and a
// real job's failure reach the log, so a River upgrade that renames them
// fails here rather than silencing them.
func TestRiverLoggerKeepsRealMessages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var buf logtest.Buffer
	workers := river.NewWorkers()
	river.AddWorker(workers, failingWorker{})
	cfg := jobs.RiverConfig(jobs.Config{Logger: slog.New(slog.NewJSONHandler(&buf, nil))}, workers)
	pool := dbtest.Pool(t)
	client, err := river.NewClient(riverpgxv5.New(pool), cfg)
	require.NoError(t, err)
	require.NoError(t, client.Start(ctx))
	t.Cleanup(func() { require.NoError(t, client.Stop(context.Background())) })

	_, err = client.Insert(ctx, failingArgs{}, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return strings.Contains(buf.String(), "Job errored; retrying")
	}, 30*time.Second, 10*time.Millisecond, "the job's failure is logged at Info")
	require.Contains(t, buf.String(), "River client started")
	require.NotContains(t, buf.String(), "Producer job counts")
}
