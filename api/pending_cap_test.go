package api_test

import (
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

func TestEnqueueTooManyPending(t *testing.T) {
	t.Parallel()
	b, err := setupWith(t, setupOpts{maxPending: 2})
	require.NoError(t, err)

	withKey := jsonHeader("Idempotency-Key", "order-1")
	first := b.enqueue(t, withKey, falExampleInput, http.StatusAccepted)
	b.enqueue(t, jsonHeader(), falExampleInput, http.StatusAccepted)

	// b.do checks the 429 against openapi.yaml, Retry-After included.
	for _, header := range []http.Header{jsonHeader(), jsonHeader("Idempotency-Key", "order-2")} {
		resp := b.do(t, http.MethodPost, "/v1/generations", header, []byte(falExampleInput))
		require.Equal(t, http.StatusTooManyRequests, resp.status, string(resp.body))
		require.Equal(t, "60", resp.header.Get(echo.HeaderRetryAfter))
		e := resp.errorBody(t)
		require.Equal(t, "too_many_pending", e.Code)
		require.Contains(t, e.Message, "client anonymous has 2 unfinished (queued or submitted) generations")
		require.Contains(t, e.Message, "EASEL_CLIENT_MAX_PENDING")
	}
	generations, jobs := b.counts(t)
	require.Equal(t, 2, generations)
	require.Equal(t, 2, jobs)

	// A retry of an enqueue that succeeded is still answered.
	require.Equal(t, first.ID, b.enqueue(t, withKey, falExampleInput, http.StatusOK).ID)

	// A finished generation makes room.
	_, err = store.Fail(b.ctx, b.pool, uuid.MustParse(first.ID), "fal_error", "failed")
	require.NoError(t, err)
	b.enqueue(t, jsonHeader(), falExampleInput, http.StatusAccepted)
	resp := b.do(t, http.MethodPost, "/v1/generations", jsonHeader(), []byte(falExampleInput))
	require.Equal(t, http.StatusTooManyRequests, resp.status, string(resp.body))
}
