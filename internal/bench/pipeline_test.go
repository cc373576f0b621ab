package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestStartClients(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rate float64
	}{
		{name: "ClosedLoop", rate: 0},
		{name: "OpenLoop", rate: 2000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var received atomic.Int64
			easel := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				require.Equal(t, "Bearer key", r.Header.Get("Authorization"))
				received.Add(1)
				w.WriteHeader(http.StatusAccepted)
			}))
			t.Cleanup(easel.Close)
			p := &pipeline{cfg: Config{Concurrency: 4}, http: easel.Client(), url: easel.URL, apiKey: "key"}

			const n = 50
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			c := p.startClients(ctx, cancel, loadBody, n, tt.rate, time.Now())
			require.NoError(t, c.wait())
			require.EqualValues(t, n, received.Load(), "every generation enqueued once, none more")
			require.EqualValues(t, n, c.enqueued.Load())
			latencies := 0
			for _, l := range c.latencies {
				latencies += len(l)
			}
			require.Equal(t, n, latencies)
		})
	}
}

func TestStartClientsStopsAtTheFirstError(t *testing.T) {
	t.Parallel()
	easel := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error": "nope"}`, http.StatusTooManyRequests)
	}))
	t.Cleanup(easel.Close)
	p := &pipeline{cfg: Config{Concurrency: 4}, http: easel.Client(), url: easel.URL, apiKey: "key"}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	c := p.startClients(ctx, cancel, loadBody, 1000, 0, time.Now())
	require.ErrorContains(t, c.wait(), "Easel answered 429")
	require.Zero(t, c.enqueued.Load())
}
