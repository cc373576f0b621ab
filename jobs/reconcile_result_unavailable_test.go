package jobs_test

import (
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

// unfetchedPrefix starts the error message of a generation whose result fal
// reports finished but could not be fetched.
const unfetchedPrefix = "fal reported the request finished, so it was likely paid for, but its result could not be fetched"

// finishedAtFal submits a generation that the simulator completes, without
// a webhook (the bundle's simulator must drop them), and returns it as
// submitted.
func (b *testBundle) finishedAtFal(t *testing.T) *store.Generation {
	t.Helper()
	gen := b.enqueue(t, "tests")
	require.NoError(t, b.submit(t, gen.ID))
	got := b.generation(t, gen.ID)
	require.Equal(t, store.StatusSubmitted, got.Status)
	return got
}

// submittedAgo moves the start of generation id's submission, and its
// record, ago into the past.
func (b *testBundle) submittedAgo(t *testing.T, id uuid.UUID, ago time.Duration) {
	t.Helper()
	_, err := b.pool.Exec(b.ctx, `UPDATE generations SET submitting_at = now() - $2::interval, submitted_at = now() - $2::interval WHERE id = $1`, id, ago)
	require.NoError(t, err)
}

// failResults makes the simulator answer every finished request's result
// with status, or serve them again for 0.
func (b *testBundle) failResults(t *testing.T, status int) {
	t.Helper()
	require.NoError(t, b.sim.Sim.SetResultErrorStatus(status))
}

// While a result fal reports finished cannot be fetched, and the
// generation may still get it, it stays submitted with the failure noted
// on it; once fal serves the result it completes, the note gone.
func TestReconcilerNotesUnfetchableResult(t *testing.T) {
	t.Parallel()
	const notePrefix = unfetchedPrefix + " yet; retrying for up to 2 × EASEL_TIMEOUT (2h0m0s) after the submission: "

	for _, tt := range []struct {
		name string
		// pollAfter is EASEL_POLL_AFTER; EASEL_TIMEOUT is an hour.
		pollAfter time.Duration
		// ago is how long ago the submission started.
		ago         time.Duration
		status      int
		wantMessage string
	}{
		{
			name:        "polled before EASEL_TIMEOUT: 5xx",
			pollAfter:   time.Nanosecond,
			status:      http.StatusInternalServerError,
			wantMessage: notePrefix + "fal result: HTTP 500: Internal Server Error",
		},
		{
			name:        "polled before EASEL_TIMEOUT: a 404 is final only past it",
			pollAfter:   time.Nanosecond,
			status:      http.StatusNotFound,
			wantMessage: notePrefix + "fal result: HTTP 404: Not Found",
		},
		{
			name:        "timed out, within 2 × EASEL_TIMEOUT: 5xx",
			pollAfter:   time.Hour,
			ago:         90 * time.Minute,
			status:      http.StatusBadGateway,
			wantMessage: notePrefix + "fal result: HTTP 502: Bad Gateway",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, falsim.Config{WebhookDropRate: 1})
			b.cfg.Timeout, b.cfg.PollAfter = time.Hour, tt.pollAfter
			gen := b.finishedAtFal(t)
			b.awaitCompletedAtFal(t, 1)
			if tt.ago > 0 {
				b.submittedAgo(t, gen.ID, tt.ago)
			}
			b.failResults(t, tt.status)

			for range 2 {
				b.reconcile(t)
				got := b.generation(t, gen.ID)
				require.Equal(t, store.StatusSubmitted, got.Status, "a paid result is not given up yet")
				require.Equal(t, store.ErrorCodeResultUnavailable, *got.ErrorCode)
				require.Equal(t, tt.wantMessage, *got.ErrorMessage)
				require.Empty(t, b.images(t, gen.ID))
			}

			b.failResults(t, 0)
			b.reconcile(t)
			got := b.generation(t, gen.ID)
			require.Equal(t, store.StatusCompleted, got.Status)
			require.Nil(t, got.ErrorCode, "the note goes with the result")
			require.Nil(t, got.ErrorMessage)
			require.Len(t, b.images(t, gen.ID), 2)
		})
	}
}

// A timed out generation fal reports finished is failed with
// result_unavailable, and says so at Error in the log: at once when fal no
// longer holds its result, else once 2 × EASEL_TIMEOUT have passed since
// its submission started. A late webhook for it then changes nothing.
func TestReconcilerFailsUnfetchableResult(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name        string
		ago         time.Duration // EASEL_TIMEOUT is an hour
		status      int
		wantMessage string
	}{
		{
			name:        "404 past EASEL_TIMEOUT: at once",
			ago:         61 * time.Minute,
			status:      http.StatusNotFound,
			wantMessage: unfetchedPrefix + ": fal no longer holds it (HTTP 404): fal result: HTTP 404: Not Found",
		},
		{
			name:        "410 past EASEL_TIMEOUT: at once",
			ago:         61 * time.Minute,
			status:      http.StatusGone,
			wantMessage: unfetchedPrefix + ": fal no longer holds it (HTTP 410): fal result: HTTP 410: Gone",
		},
		{
			name:        "5xx past 2 × EASEL_TIMEOUT",
			ago:         121 * time.Minute,
			status:      http.StatusInternalServerError,
			wantMessage: unfetchedPrefix + " within 2 × EASEL_TIMEOUT (2h0m0s) of the submission; last error: fal result: HTTP 500: Internal Server Error",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, falsim.Config{WebhookDropRate: 1})
			logs := &logtest.Buffer{}
			b.cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
			b.cfg.Timeout = time.Hour
			gen := b.finishedAtFal(t)
			b.awaitCompletedAtFal(t, 1)
			b.submittedAgo(t, gen.ID, tt.ago)
			b.failResults(t, tt.status)

			b.reconcile(t)
			got := b.generation(t, gen.ID)
			require.Equal(t, store.StatusFailed, got.Status)
			require.Equal(t, store.ErrorCodeResultUnavailable, *got.ErrorCode)
			require.Equal(t, tt.wantMessage, *got.ErrorMessage)
			require.Empty(t, b.images(t, gen.ID))
			submissions, confirmed := b.accounting(t, gen.ID)
			require.Equal(t, []int{1, 1}, []int{submissions, confirmed}, "paid once, and it shows")

			var logged bool
			for _, entry := range logs.Records(t) {
				if entry["level"] == "ERROR" {
					require.Equal(t, "generation failed: fal reported it finished but its result could not be fetched", entry["msg"])
					require.Equal(t, gen.ID.String(), entry["generation_id"])
					require.Equal(t, *gen.FalRequestID, entry["fal_request_id"])
					require.Equal(t, store.ErrorCodeResultUnavailable, entry["error_code"])
					logged = true
				}
			}
			require.True(t, logged, logs.String())

			// fal's webhook for it, after all: kept, and nothing changes.
			requestID := *gen.FalRequestID
			require.Equal(t, store.OutcomeLate, b.deliverSigned(t, gen.ID, requestID, okWebhook(requestID)))
			b.failResults(t, 0)
			b.reconcile(t)
			after := b.generation(t, gen.ID)
			require.Equal(t, store.StatusFailed, after.Status)
			require.Equal(t, *got.ErrorMessage, *after.ErrorMessage)
			require.Empty(t, b.images(t, gen.ID))
		})
	}
}

// A full batch of timed out generations whose results cannot be fetched
// does not keep a newer timed out generation from timing out.
func TestReconcilerUnfetchableResultsDoNotBlockTimeouts(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{WebhookDropRate: 1})
	b.cfg.Timeout = time.Hour
	stuck := make([]uuid.UUID, jobs.ReconcileBatch)
	for i := range stuck {
		stuck[i] = b.finishedAtFal(t).ID
		b.submittedAgo(t, stuck[i], 90*time.Minute)
	}
	b.awaitCompletedAtFal(t, len(stuck))
	b.failResults(t, http.StatusServiceUnavailable)
	b.reconcile(t)

	newer := b.enqueue(t, "tests")
	_, err := store.MarkSubmitting(b.ctx, b.pool, newer.ID) // and the worker died
	require.NoError(t, err)
	b.submittedAgo(t, newer.ID, 61*time.Minute)

	b.reconcile(t)
	got := b.generation(t, newer.ID)
	require.Equal(t, store.StatusFailed, got.Status, "timed out though older ones fill the batch")
	require.Equal(t, store.ErrorCodeTimeout, *got.ErrorCode)
	for _, id := range stuck {
		got := b.generation(t, id)
		require.Equal(t, store.StatusSubmitted, got.Status)
		require.Equal(t, store.ErrorCodeResultUnavailable, *got.ErrorCode)
	}
}
