package jobs_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

// fal down for a while: each generation's first failed attempt is a WARN
// and its retries are DEBUG, so the WARNs stay at one per generation
// however often they retry, even when a retry fails in another way (fal
// alternating 5xx and 429). Every line carries the row's explanation and
// its own code.
func TestSubmitRetriesWarnOncePerGeneration(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{SubmitErrorRate: 1})
	logs := &logtest.Buffer{}
	b.cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w := jobs.NewSubmitGenerationWorker(b.pool, b.cfg) // a process has one
	const generations, attempts = 3, 4
	var gens []*store.Generation
	for range generations {
		gens = append(gens, b.enqueue(t, "tests"))
	}
	for range attempts {
		for _, gen := range gens {
			snoozed(t, b.submitWith(t, w, gen.ID))
		}
	}

	const retryMsg = "submit to fal failed; will retry"
	retries := logs.Lines(t, retryMsg)
	require.Len(t, retries, generations*attempts)
	require.Equal(t, map[string]int{"WARN": generations, "DEBUG": generations * (attempts - 1)}, byLevel(retries))
	for _, gen := range gens {
		got := b.generation(t, gen.ID)
		require.Equal(t, store.StatusQueued, got.Status)
		require.Equal(t, attempts, got.Attempts)
		require.Equal(t, store.ErrorCodeFalUnavailable, *got.ErrorCode)
		var last map[string]any
		for _, entry := range retries {
			if entry["generation_id"] == gen.ID.String() {
				require.Equal(t, store.ErrorCodeFalUnavailable, entry["error_code"])
				last = entry
			}
		}
		require.Equal(t, *got.ErrorMessage, last["error_message"], "the latest line explains as the row does")
	}
	var warnings int
	for _, entry := range logs.Records(t) {
		if entry["level"] == "WARN" {
			warnings++
		}
	}
	require.Equal(t, generations, warnings, "no other WARN within the minute")

	// fal now rate limits: another kind of failure, still a retry.
	limited, err := falsim.Start(b.ctx, "127.0.0.1:0", falsim.Config{RateLimitRate: 1})
	require.NoError(t, err)
	t.Cleanup(limited.Close)
	cfg := b.cfg
	cfg.Fal = fal.NewClient(fal.ClientConfig{QueueURL: limited.QueueURL(), Key: "test-key"})
	snoozed(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, cfg), gens[0].ID))
	retries = logs.Lines(t, retryMsg)
	last := retries[len(retries)-1]
	require.Equal(t, "DEBUG", last["level"])
	require.Equal(t, store.ErrorCodeFalRateLimited, last["error_code"])
	require.Equal(t, store.ErrorCodeFalRateLimited, *b.generation(t, gens[0].ID).ErrorCode)
}

// slowAnswersFal returns a fal client whose submits the simulator accepts
// and whose answers never come: a proxy in front of the simulator holds
// each until Easel gives up on it. The request ids the simulator gave go to
// the returned channel. Easel's side is the real net/http client, so that
// the error a cut-off call gets is the one it gets in production.
func (b *testBundle) slowAnswersFal(t *testing.T) (*fal.Client, <-chan string) {
	t.Helper()
	ids := make(chan string, 10)
	target, err := url.Parse(b.sim.QueueURL())
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		var answer struct {
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal(body, &answer); err != nil {
			return err
		}
		ids <- answer.RequestID
		<-resp.Request.Context().Done()
		return resp.Request.Context().Err()
	}
	proxy.ErrorHandler = func(http.ResponseWriter, *http.Request, error) {}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	return fal.NewClient(fal.ClientConfig{QueueURL: srv.URL, Key: "test-key"}), ids
}

// A submit call fal accepted and never answered is cut off by the job's
// timeout, by Easel stopping (River cancels running jobs' contexts), or by
// the job's cancel in River. The row and the log say which: the timeout
// names the setting that bounds it, and the other two say that Easel, not
// fal, ended the call. What the submission counts, and what happens next,
// is the same as for any answer that never came: counted, unconfirmed,
// the job snoozed for EASEL_POLL_AFTER (or cancelled, by its cancel).
func TestSubmitCutOffSaysWhy(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name        string
		rescueAfter time.Duration
		// cut ends the call under way on the job jobID of client, or does
		// nothing and lets the job's timeout end it.
		cut           func(t *testing.T, b *testBundle, client *river.Client[pgx.Tx], jobID int64)
		wantJobState  rivertype.JobState
		wantMessage   string
		wantErrSuffix string
		wantLog       string
		wantBy        string
	}{
		{
			name:          "the job's timeout",
			rescueAfter:   6 * time.Second, // a 3 s job timeout: time to reach fal on a loaded machine
			cut:           func(*testing.T, *testBundle, *river.Client[pgx.Tx], int64) {},
			wantJobState:  rivertype.JobStateScheduled,
			wantMessage:   "no answer from fal within the submit job's timeout (3s, half of EASEL_RESCUE_AFTER): fal submit: Post ",
			wantErrSuffix: "context deadline exceeded",
			wantLog:       "submit to fal failed after sending; waiting for a webhook before submitting again",
		},
		{
			name: "Easel stopping",
			cut: func(t *testing.T, b *testBundle, client *river.Client[pgx.Tx], _ int64) {
				ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
				defer cancel()
				require.NoError(t, client.StopAndCancel(ctx))
			},
			wantJobState: rivertype.JobStateScheduled,
			wantMessage: "Easel's process was stopping (a shutdown or deploy) and cut the submit call off, before fal answered (not a fault of fal's): " +
				"fal may have accepted it, so it waits EASEL_POLL_AFTER for its webhook before it is submitted again: fal submit: Post ",
			wantErrSuffix: "stop initiated",
			wantLog:       "submit to fal cut off by Easel, not by fal",
			wantBy:        "process stopping",
		},
		{
			name: "the job cancelled in River",
			cut: func(t *testing.T, b *testBundle, client *river.Client[pgx.Tx], jobID int64) {
				_, err := client.JobCancel(b.ctx, jobID)
				require.NoError(t, err)
			},
			wantJobState: rivertype.JobStateCancelled,
			wantMessage: "its submit_generation job was cancelled in River while the call to fal was under way, before fal answered (not a fault of fal's): " +
				"fal may have accepted it, and no job submits it again: its webhook finishes it, else the reconciler fails it with code timeout " +
				"EASEL_TIMEOUT after its first submission: fal submit: Post ",
			wantErrSuffix: "job cancelled remotely",
			wantLog:       "submit to fal cut off by Easel, not by fal",
			wantBy:        "job cancelled in River",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, falsim.Config{WebhookDropRate: 1})
			logs := &logtest.Buffer{}
			b.cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
			b.cfg.RescueAfter = tt.rescueAfter
			var ids <-chan string
			b.cfg.Fal, ids = b.slowAnswersFal(t)
			gen := b.enqueue(t, "tests")
			jobID := b.submitJobID(t, gen.ID)

			client, err := jobs.NewRiverClient(b.pool, b.cfg)
			require.NoError(t, err)
			require.NoError(t, client.Start(b.ctx))
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				require.NoError(t, client.StopAndCancel(ctx))
			})
			receive(t, ids)
			tt.cut(t, b, client, jobID)

			require.Eventually(t, func() bool {
				job, err := client.JobGet(b.ctx, jobID)
				require.NoError(t, err)
				return job.State == tt.wantJobState
			}, 10*time.Second, 10*time.Millisecond)
			job, err := client.JobGet(b.ctx, jobID)
			require.NoError(t, err)
			if tt.wantJobState == rivertype.JobStateScheduled {
				require.WithinDuration(t, time.Now().Add(time.Hour), job.ScheduledAt, time.Minute, "EASEL_POLL_AFTER for its webhook")
			}

			got := b.generation(t, gen.ID)
			require.Equal(t, store.StatusQueued, got.Status)
			require.Equal(t, store.ErrorCodeFalUnreachable, *got.ErrorCode)
			require.True(t, strings.HasPrefix(*got.ErrorMessage, tt.wantMessage), *got.ErrorMessage)
			require.True(t, strings.HasSuffix(*got.ErrorMessage, tt.wantErrSuffix), *got.ErrorMessage)
			submissions, confirmed := b.accounting(t, gen.ID)
			require.Equal(t, [2]int{1, 0}, [2]int{submissions, confirmed}, "fal may have accepted it: counted, unconfirmed")
			require.Equal(t, 1, b.sim.Sim.Stats().Submissions)

			logged := logs.Lines(t, tt.wantLog)
			require.Len(t, logged, 1, logs.String())
			require.Equal(t, "WARN", logged[0]["level"])
			require.Equal(t, gen.ID.String(), logged[0]["generation_id"])
			require.Equal(t, store.ErrorCodeFalUnreachable, logged[0]["error_code"])
			require.Equal(t, *got.ErrorMessage, logged[0]["error_message"], "the log explains as the row does")
			if tt.wantBy != "" {
				require.Equal(t, tt.wantBy, logged[0]["interrupted_by"])
			}
		})
	}
}
