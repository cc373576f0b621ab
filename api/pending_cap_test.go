package api_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/internal/clocktest"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

func TestEnqueueTooManyPending(t *testing.T) {
	t.Parallel()
	clock := clocktest.New()
	b, err := setupWith(t, setupOpts{maxPending: 2, now: clock.Now})
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
	generations, riverJobs := b.counts(t)
	require.Equal(t, 2, generations)
	require.Equal(t, 2, riverJobs)

	// A retry of an enqueue that succeeded is still answered, while the
	// refusal that the count at the cap decided still stands.
	require.Equal(t, first.ID, b.enqueue(t, withKey, falExampleInput, http.StatusOK).ID)

	// A finished generation makes room once the count that found the
	// client at its cap is a TTL old: only then is it counted again.
	_, err = store.Fail(b.ctx, b.pool, uuid.MustParse(first.ID), "fal_error", "failed")
	require.NoError(t, err)
	resp := b.do(t, http.MethodPost, "/v1/generations", jsonHeader(), []byte(falExampleInput))
	require.Equal(t, http.StatusTooManyRequests, resp.status, "refused for up to a TTL after the count at the cap")
	clock.Advance(jobs.PendingCacheTTL)
	b.enqueue(t, jsonHeader(), falExampleInput, http.StatusAccepted)
	resp = b.do(t, http.MethodPost, "/v1/generations", jsonHeader(), []byte(falExampleInput))
	require.Equal(t, http.StatusTooManyRequests, resp.status, string(resp.body))
	generations, _ = b.counts(t)
	require.Equal(t, 3, generations)
}

// TestEnqueuePendingCountReused shows that, under the cap, the handler does
// not count in every enqueue: for up to a TTL it misses what another
// process enqueued for the client, by exactly the overshoot that
// jobs.ErrTooManyPending documents.
func TestEnqueuePendingCountReused(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name string
		// elapsed is the time between the handler's count and its next
		// enqueues.
		elapsed      time.Duration
		wantAccepted int
	}{
		{name: "WithinTTL", elapsed: jobs.PendingCacheTTL - time.Millisecond, wantAccepted: 2},
		{name: "AfterTTL", elapsed: jobs.PendingCacheTTL, wantAccepted: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const maxPending = 3
			clock := clocktest.New()
			b, err := setupWith(t, setupOpts{maxPending: maxPending, now: clock.Now})
			require.NoError(t, err)

			b.enqueue(t, jsonHeader(), falExampleInput, http.StatusAccepted) // counts 0 unfinished
			// Another process (here a Go service on the same database)
			// fills the client's cap.
			for range maxPending - 1 {
				require.NoError(t, pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
					_, err := jobs.Enqueue(b.ctx, tx, api.AnonymousClient, falExampleInput, &jobs.EnqueueOpts{MaxPending: maxPending})
					return err
				}))
			}
			clock.Advance(tt.elapsed)

			// Within the TTL, the handler goes by its count plus its own
			// enqueues since, until they reach the cap; then it counts,
			// and refuses. After the TTL it counts at once.
			for range tt.wantAccepted {
				b.enqueue(t, jsonHeader(), falExampleInput, http.StatusAccepted)
			}
			resp := b.do(t, http.MethodPost, "/v1/generations", jsonHeader(), []byte(falExampleInput))
			require.Equal(t, http.StatusTooManyRequests, resp.status, string(resp.body))

			generations, _ := b.counts(t)
			require.Equal(t, maxPending+tt.wantAccepted, generations,
				"over the cap by at most what the other process enqueued within the TTL")
		})
	}
}

// TestEnqueuePendingConcurrent floods the cap from many goroutines: the
// client ends at the cap, over it by fewer than the enqueues that can
// overlap (one per pool connection), and every answer is 202 or 429.
func TestEnqueuePendingConcurrent(t *testing.T) {
	t.Parallel()
	const maxPending, n = 10, 40
	b, err := setupWith(t, setupOpts{maxPending: maxPending})
	require.NoError(t, err)

	responses := make([]response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			responses[i] = b.serve(http.MethodPost, "/v1/generations", jsonHeader(), []byte(falExampleInput))
		})
	}
	close(start)
	wg.Wait()

	accepted := 0
	for _, resp := range responses {
		require.Contains(t, []int{http.StatusAccepted, http.StatusTooManyRequests}, resp.status, string(resp.body))
		if resp.status == http.StatusAccepted {
			accepted++
		}
	}
	generations, riverJobs := b.counts(t)
	require.Equal(t, accepted, generations)
	require.Equal(t, accepted, riverJobs)
	require.GreaterOrEqual(t, generations, maxPending)
	require.LessOrEqual(t, generations, maxPending+int(b.pool.Config().MaxConns)-1)
}
