package falsim_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
)

// The result fault answers a finished request's result with its status
// while the status still says COMPLETED, until it is turned off.
func TestResultErrorStatus(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{}, setupOpts{})
	sr := b.submit(t, validInput, "")
	b.awaitCompleted(t, sr.StatusURL)

	for _, status := range []int{http.StatusNotFound, http.StatusGone, http.StatusInternalServerError} {
		require.NoError(t, b.sim.SetResultErrorStatus(status))
		resp, body := b.do(t, http.MethodGet, sr.ResponseURL, "")
		require.Equal(t, status, resp.StatusCode)
		require.Equal(t, sr.RequestID, resp.Header.Get("x-fal-request-id"))
		require.JSONEq(t, `{"detail": "`+http.StatusText(status)+`"}`, string(body))

		resp, body = b.do(t, http.MethodGet, sr.StatusURL, "")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, string(body), `"status":"COMPLETED"`)
	}

	require.NoError(t, b.sim.SetResultErrorStatus(0))
	resp, _ := b.do(t, http.MethodGet, sr.ResponseURL, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, "served again once the fault is off")
}

// Before completion a request's result is "still in progress", fault or not.
func TestResultErrorStatusBeforeCompletion(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{Latency: holdLatency}, setupOpts{})
	require.NoError(t, b.sim.SetResultErrorStatus(http.StatusInternalServerError))
	sr := b.submit(t, validInput, "")
	resp, _ := b.do(t, http.MethodGet, sr.ResponseURL, "")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestSetResultErrorStatusRejectsNonErrorStatus(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{}, setupOpts{})
	sr := b.submit(t, validInput, "")
	b.awaitCompleted(t, sr.StatusURL)

	for _, status := range []int{-1, 200, 399, 600} {
		require.ErrorContains(t, b.sim.SetResultErrorStatus(status), "result error status", status)
	}
	resp, _ := b.do(t, http.MethodGet, sr.ResponseURL, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, "a refused status changes nothing")
}
