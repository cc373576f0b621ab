package falsim_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/clocktest"
)

// requireForgotten checks that every route of the request answers as fal
// does for an id it does not know.
func (b *testBundle) requireForgotten(t *testing.T, sr submitResponse) {
	t.Helper()
	for _, route := range []struct{ method, url string }{
		{http.MethodGet, sr.StatusURL},
		{http.MethodGet, sr.StatusURL + "/stream"},
		{http.MethodGet, sr.ResponseURL},
		{http.MethodGet, sr.ResponseURL + "/response"},
		{http.MethodPut, sr.CancelURL},
	} {
		resp, body := b.do(t, route.method, route.url, "")
		require.Equal(t, http.StatusNotFound, resp.StatusCode, route.url)
		require.JSONEq(t, `{"status": "NOT_FOUND", "detail": "Request not found"}`, string(body), route.url)
	}
}

func TestRetentionForgetsFinishedRequests(t *testing.T) {
	t.Parallel()

	clock := clocktest.New()
	b := setup(t, falsim.Config{Retention: time.Hour}, setupOpts{now: clock.Now})
	sr := b.submit(t, validInput, "")
	b.awaitCompleted(t, sr.StatusURL)
	out := b.result(t, sr.ResponseURL)
	require.True(t, b.sim.Retired(sr.RequestID), "no webhook: retired as it completed")

	clock.Advance(time.Hour - time.Second)
	code, st := b.status(t, sr.StatusURL)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "COMPLETED", st.Status)
	resp, body := b.do(t, http.MethodPut, sr.CancelURL, "")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.JSONEq(t, `{"status": "ALREADY_COMPLETED"}`, string(body))

	clock.Advance(time.Second)
	b.requireForgotten(t, sr)
	requests, webhookURLs := b.sim.Kept()
	require.Zero(t, requests)
	require.Zero(t, webhookURLs)

	// Image files are drawn from their paths, and outlive the request.
	resp, body = b.do(t, http.MethodGet, out.Images[0].URL, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "image/jpeg", resp.Header.Get("Content-Type"))
	require.Len(t, body, out.Images[0].FileSize)
}

// A webhook can end in a payload_error that sends the receiver to fetch
// the result: the request is kept while deliveries go on, and its
// retention counts from their end.
func TestRetentionWaitsForWebhookDeliveries(t *testing.T) {
	t.Parallel()

	clock := clocktest.New()
	release := make(chan struct{})
	b := setup(t, falsim.Config{}, setupOpts{
		now: clock.Now,
		answer: func(_ int, r *http.Request) int {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return http.StatusOK
		},
	})
	sr := b.submitWithWebhook(t, validInput)
	b.nextDelivery(t)

	clock.Advance(2 * time.Hour) // past the default hour
	code, st := b.status(t, sr.StatusURL)
	require.Equal(t, http.StatusOK, code, "kept while its webhook is being delivered")
	require.Equal(t, "COMPLETED", st.Status)
	require.False(t, b.sim.Retired(sr.RequestID))

	close(release)
	require.Eventually(t, func() bool { return b.sim.Retired(sr.RequestID) }, awaitTimeout, time.Millisecond)
	clock.Advance(time.Hour - time.Second)
	b.result(t, sr.ResponseURL)
	requests, webhookURLs := b.sim.Kept()
	require.Equal(t, 1, requests)
	require.Equal(t, 1, webhookURLs)

	clock.Advance(time.Second)
	b.requireForgotten(t, sr)
	requests, webhookURLs = b.sim.Kept()
	require.Zero(t, requests)
	require.Zero(t, webhookURLs)
}

// A fal_webhook URL counts as used again only while a request that used it
// is kept: memory stays bounded, and Easel resubmits within minutes.
func TestRetentionForgetsWebhookURLs(t *testing.T) {
	t.Parallel()

	clock := clocktest.New()
	b := setup(t, falsim.Config{Retention: time.Minute}, setupOpts{now: clock.Now})
	hook := "fal_webhook=" + url.QueryEscape(b.hookURL+"/webhooks/fal/one")
	first := b.submit(t, validInput, hook)
	b.nextDelivery(t)
	require.Eventually(t, func() bool { return b.sim.Retired(first.RequestID) }, awaitTimeout, time.Millisecond)

	clock.Advance(time.Minute)
	b.submit(t, validInput, hook)
	require.Zero(t, b.sim.Stats().DuplicateSubmissions, "the first request is forgotten")
	b.submit(t, validInput, hook)
	require.Equal(t, 1, b.sim.Stats().DuplicateSubmissions, "the second is not")
}

func TestRetentionKeepsUnfinishedRequests(t *testing.T) {
	t.Parallel()

	clock := clocktest.New()
	b := setup(t, falsim.Config{Latency: holdLatency, MaxConcurrency: 1}, setupOpts{now: clock.Now})
	running := b.submit(t, validInput, "")
	queued := b.submit(t, validInput, "")

	clock.Advance(24 * time.Hour)
	for _, sr := range []submitResponse{running, queued} {
		code, _ := b.status(t, sr.StatusURL)
		require.Equal(t, http.StatusAccepted, code)
	}
	requests, _ := b.sim.Kept()
	require.Equal(t, 2, requests)
}
