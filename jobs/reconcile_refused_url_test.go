package jobs_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/store"
)

// refusedURLs are stored URLs, off the queue host, that the client will not
// rebuild a request from: rebuilt, each would name another path or request
// (a query, a fragment, "..", another layout).
var refusedURLs = []struct {
	name                        string
	status, response, cancelURL string
}{
	{
		name:      "an escaped '?' in the endpoint",
		status:    "https://queue.falrun.com/x%3Fy/app/requests/abc/status",
		response:  "https://queue.falrun.com/x%3Fy/app/requests/abc",
		cancelURL: "https://queue.falrun.com/x%3Fy/app/requests/abc/cancel",
	},
	{
		name:      "an escaped '#' in the endpoint",
		status:    "https://queue.falrun.com/fal-ai/x%23y/requests/abc/status",
		response:  "https://queue.falrun.com/fal-ai/x%23y/requests/abc",
		cancelURL: "https://queue.falrun.com/fal-ai/x%23y/requests/abc/cancel",
	},
	{
		name:      "a request id of ..",
		status:    "https://queue.falrun.com/fal-ai/fooocus/requests/../status",
		response:  "https://queue.falrun.com/fal-ai/fooocus/requests/%2e%2e",
		cancelURL: "https://queue.falrun.com/fal-ai/fooocus/requests/../cancel",
	},
	{
		name:      "another layout",
		status:    "https://queue.falrun.com/api/v1/requests/abc/state",
		response:  "https://queue.falrun.com/api/v1/requests/abc/output",
		cancelURL: "https://queue.falrun.com/api/v1/requests/abc/stop",
	},
}

// storeURLs replaces generation gen's stored fal URLs.
func (b *testBundle) storeURLs(t *testing.T, gen *store.Generation, status, response, cancelURL string) {
	t.Helper()
	tag, err := b.pool.Exec(b.ctx, `UPDATE generations SET fal_status_url = $2, fal_response_url = $3, fal_cancel_url = $4 WHERE id = $1`,
		gen.ID, status, response, cancelURL)
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected())
}

// builtStatus asks the simulator about gen's request through the URL built
// from its ids.
func (b *testBundle) builtStatus(t *testing.T, gen *store.Generation) *fal.Status {
	t.Helper()
	statusURL, _, _ := b.fal.RequestURLs(gen.EndpointID, *gen.FalRequestID)
	status, err := b.fal.Status(b.ctx, statusURL)
	require.NoError(t, err)
	return status
}

// A stored URL the client refuses is no answer about the request: the
// reconciler and the cancel call ask about it through the URLs built from
// the row's own ids, so a paid result is still fetched and a running
// request still cancelled, rather than left to run and bill.
func TestStoredURLsTheClientRefusesFallBackToTheRowsIDs(t *testing.T) {
	t.Parallel()

	for _, urls := range refusedURLs {
		t.Run(urls.name, func(t *testing.T) {
			t.Parallel()

			t.Run("result fetched", func(t *testing.T) {
				t.Parallel()
				b := setup(t, falsim.Config{WebhookDropRate: 1})
				gen := b.enqueue(t, "tests")
				require.NoError(t, b.submit(t, gen.ID))
				b.awaitCompletedAtFal(t, 1)
				b.storeURLs(t, gen, urls.status, urls.response, urls.cancelURL)

				b.cfg.PollAfter = time.Nanosecond
				b.reconcile(t)
				got := b.generation(t, gen.ID)
				require.Equal(t, store.StatusCompleted, got.Status, "error: %v", got.ErrorMessage)
				require.Len(t, b.images(t, gen.ID), 2)
			})

			t.Run("timed out request cancelled", func(t *testing.T) {
				t.Parallel()
				b := setup(t, falsim.Config{WebhookDropRate: 1, Latency: falsim.Latency{Min: time.Hour, Max: time.Hour}})
				gen := b.enqueue(t, "tests")
				require.NoError(t, b.submit(t, gen.ID))
				b.storeURLs(t, gen, urls.status, urls.response, urls.cancelURL)

				b.cfg.Timeout = time.Nanosecond
				b.reconcile(t)
				got := b.generation(t, gen.ID)
				require.Equal(t, store.StatusFailed, got.Status)
				require.Equal(t, "fal did not finish within EASEL_TIMEOUT (1ns) of the submission; cancelled at fal", *got.ErrorMessage)
				require.Equal(t, "client_cancelled", b.builtStatus(t, got).ErrorType, "the cancel reached fal")
			})

			t.Run("cancel call", func(t *testing.T) {
				t.Parallel()
				b := setup(t, running)
				gen := b.enqueue(t, "tests")
				require.NoError(t, b.submit(t, gen.ID))
				b.storeURLs(t, gen, urls.status, urls.response, urls.cancelURL)

				got, err := b.canceller(t).Cancel(b.ctx, gen.ID)
				require.NoError(t, err)
				require.Equal(t, store.StatusCancelled, got.Status)
				require.Equal(t, "cancelled at fal", *got.ErrorMessage)
				require.Equal(t, "client_cancelled", b.builtStatus(t, got).ErrorType, "the cancel reached fal")
			})

			t.Run("unneeded request cancelled", func(t *testing.T) {
				t.Parallel()
				b := setup(t, falsim.Config{WebhookDropRate: 1})
				first, second := b.submittedTwice(t)
				b.awaitCompletedAtFal(t, 2)
				got := b.completeWithOlder(t, second.ID, first)
				billed := *second.FalRequestID
				tag, err := b.pool.Exec(b.ctx, `UPDATE fal_request_cancels SET cancel_url = $2 WHERE fal_request_id = $1`, billed, urls.cancelURL)
				require.NoError(t, err)
				require.EqualValues(t, 1, tag.RowsAffected())

				b.reconcile(t)
				require.Equal(t, cancelRecord{GenerationID: got.ID, Reason: store.FalCancelSuperseded, Answer: ptr(store.FalCancelAlreadyCompleted),
					Answered: true, Attempts: 1}, b.cancelRecord(t, billed), "fal's answer, not a refusal")
			})
		})
	}
}

// A transient answer to the result of a request that fal says failed (a
// timeout, rate limiting, a 5xx) is no verdict on the request: the
// generation stays submitted with the failure noted, as for any result
// that could not be fetched, and fails with fal's error once fal serves it.
func TestTransientResultErrorOfAFailedRequestIsRetried(t *testing.T) {
	t.Parallel()

	for _, status := range []int{
		http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout,
	} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			t.Parallel()
			b := setup(t, falsim.Config{WebhookDropRate: 1, FailRate: 1})
			b.cfg.PollAfter = time.Nanosecond
			gen := b.finishedAtFal(t)
			b.awaitCompletedAtFal(t, 1)
			require.NotEmpty(t, b.falStatus(t, gen).Error, "fal says the request failed")
			b.failResults(t, status)

			b.reconcile(t)
			got := b.generation(t, gen.ID)
			require.Equal(t, store.StatusSubmitted, got.Status, "not failed by a %d", status)
			require.Equal(t, store.ErrorCodeResultUnavailable, *got.ErrorCode)
			require.Contains(t, *got.ErrorMessage, fmt.Sprintf("fal result: HTTP %d", status))

			b.failResults(t, 0)
			b.reconcile(t)
			got = b.generation(t, gen.ID)
			require.Equal(t, store.StatusFailed, got.Status)
			require.NotEqual(t, store.ErrorCodeResultUnavailable, *got.ErrorCode, "failed by fal's error: %s", *got.ErrorMessage)
		})
	}
}
