package jobs_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/jobs"
)

// A receiver answering 429 or 503 with Retry-After is not tried again
// before it asked, up to the schedule's longest delay (8 h), nor sooner
// than the schedule says; through a real River client, which is what
// calls NextRetry.
func TestCallbackDeliveryHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	inTwoHours := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	for _, tt := range []struct {
		name       string
		status     int
		retryAfter string
		// The next attempt is due between the attempt's start plus
		// least and its end plus most.
		least, most time.Duration
		// at, when set, is when the next attempt is due, to the second.
		at time.Time
	}{
		{name: "seconds", status: http.StatusTooManyRequests, retryAfter: "3600", least: time.Hour, most: time.Hour},
		{name: "HTTP date", status: http.StatusServiceUnavailable, retryAfter: inTwoHours.UTC().Format(http.TimeFormat), at: inTwoHours},
		{name: "capped", status: http.StatusTooManyRequests, retryAfter: "86400", least: 8 * time.Hour, most: 8 * time.Hour},
		{name: "sooner than the schedule", status: http.StatusServiceUnavailable, retryAfter: "1", least: 9 * time.Second, most: 10 * time.Second},
		{name: "not on a 500", status: http.StatusInternalServerError, retryAfter: "3600", least: 9 * time.Second, most: 10 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupCallbacks(t, true)
			b.status.Store(int32(tt.status))
			b.header.Store(&http.Header{"Retry-After": {tt.retryAfter}})
			gen := b.finished(t, b.receiver.URL)
			client := startCallbackClient(t, b)

			before := time.Now()
			_, err := jobs.NewCallbackDispatcher(b.pool, client, b.cfg.Logger).Dispatch(b.ctx)
			require.NoError(t, err)
			d := b.delivery(t, gen.ID)
			job := awaitJobState(t, b, client, *d.JobID, rivertype.JobStateRetryable)
			after := time.Now()

			require.Equal(t, 1, job.Attempt, "the attempt counts towards the 11")
			require.Len(t, job.Errors, 1)
			if !tt.at.IsZero() {
				require.WithinDuration(t, tt.at, job.ScheduledAt, time.Second)
			} else {
				require.False(t, job.ScheduledAt.Before(before.Add(tt.least)), "due %s, before %s", job.ScheduledAt, before.Add(tt.least))
				require.False(t, job.ScheduledAt.After(after.Add(tt.most)), "due %s, after %s", job.ScheduledAt, after.Add(tt.most))
			}
			if tt.status != http.StatusInternalServerError {
				require.Contains(t, *b.delivery(t, gen.ID).LastError, "Retry-After", "the record says why the wait is longer")
			}
		})
	}
}

// A receiver's body, which may echo a token, is kept on the delivery's
// record and nowhere else: not in Easel's log lines, not in River's (which
// log the job's error), not in the errors River keeps on the job.
func TestCallbackReceiverBodyStaysOutOfLogs(t *testing.T) {
	t.Parallel()
	const marker = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
	b := setupCallbacks(t, true)
	logs := &logtest.Buffer{}
	b.cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b.status.Store(http.StatusUnauthorized)
	answer := `{"error":"bad token","token":"` + marker + `"}`
	b.body.Store(&answer)
	gen := b.finished(t, b.receiver.URL)
	client := startCallbackClient(t, b)

	_, err := jobs.NewCallbackDispatcher(b.pool, client, b.cfg.Logger).Dispatch(b.ctx)
	require.NoError(t, err)
	d := b.delivery(t, gen.ID)
	job := awaitJobState(t, b, client, *d.JobID, rivertype.JobStateRetryable)

	d = b.delivery(t, gen.ID)
	require.Equal(t, "receiver answered 401 Unauthorized; body: "+answer, *d.LastError, "kept on record, for debugging")
	require.Len(t, job.Errors, 1)
	require.Equal(t, "deliver callback of generation "+gen.ID.String()+": receiver answered 401 Unauthorized", job.Errors[0].Error)

	require.Eventually(t, func() bool {
		for _, r := range logs.Records(t) {
			if strings.HasSuffix(r["msg"].(string), "Job errored; retrying") && r["job_kind"] == "callback_delivery" {
				return r["error"] == job.Errors[0].Error
			}
		}
		return false
	}, 30*time.Second, 10*time.Millisecond, "River's line about the failed job, with its error, is captured too")
	lines := logs.Lines(t, "callback not delivered; will retry")
	require.Len(t, lines, 1)
	require.Equal(t, float64(http.StatusUnauthorized), lines[0]["status"])
	require.Equal(t, float64(len(answer)), lines[0]["body_bytes"])
	require.Equal(t, "receiver answered 401 Unauthorized", lines[0]["error"])
	require.NotContains(t, logs.String(), marker)
	require.NotContains(t, logs.String(), "bad token")
}

// startCallbackClient works b's callback deliveries with a real River
// client, and only them.
func startCallbackClient(t *testing.T, b *callbackBundle) *river.Client[pgx.Tx] {
	t.Helper()
	workers := river.NewWorkers()
	river.AddWorker(workers, jobs.NewCallbackDeliveryWorker(b.pool, b.cfg))
	client, err := river.NewClient(riverpgxv5.New(b.pool), jobs.RiverConfig(b.cfg, workers))
	require.NoError(t, err)
	require.NoError(t, client.Start(b.ctx))
	t.Cleanup(func() { require.NoError(t, client.Stop(b.ctx)) })
	return client
}

// awaitJobState waits for River to have put job id in state, and returns it.
func awaitJobState(t *testing.T, b *callbackBundle, client *river.Client[pgx.Tx], id int64, state rivertype.JobState) *rivertype.JobRow {
	t.Helper()
	var (
		job *rivertype.JobRow
		err error
	)
	// Eventually polls on another goroutine, where require must not fail.
	require.Eventually(t, func() bool {
		job, err = client.JobGet(b.ctx, id)
		return err == nil && job.State == state
	}, 30*time.Second, 10*time.Millisecond, "job %d never became %s", id, state)
	require.NoError(t, err)
	return job
}
