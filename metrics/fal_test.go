package metrics_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/metricstest"
)

const falInput = `{"image_prompt_1": {"image_url": "https://example.com/a.png"}}`

// A request's life at fal, each call through CountFal counted once under
// its operation.
func TestCountFalCountsEachCall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sim, err := falsim.Start(ctx, "127.0.0.1:0", falsim.Config{})
	require.NoError(t, err)
	t.Cleanup(sim.Close)
	m := setup(t).metrics
	client := m.CountFal(fal.NewClient(fal.ClientConfig{QueueURL: sim.QueueURL(), Key: "test-key"}))

	resp, err := client.Submit(ctx, fal.SubmitRequest{EndpointID: "fal-ai/fooocus/image-prompt", Input: json.RawMessage(falInput)})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		status, err := client.Status(ctx, resp.StatusURL)
		require.NoError(t, err)
		return status.Status == fal.StatusCompleted
	}, 10*time.Second, 5*time.Millisecond)
	_, err = client.Result(ctx, resp.ResponseURL)
	require.NoError(t, err)
	outcome, err := client.Cancel(ctx, resp.CancelURL)
	require.NoError(t, err)
	require.Equal(t, fal.CancelAlreadyCompleted, outcome, "an answer, not an error")

	s := metricstest.Scrape(t, m.Handler())
	require.Equal(t, 1.0, s[`easel_fal_requests_total{operation="submit",result="ok"}`])
	require.GreaterOrEqual(t, s[`easel_fal_requests_total{operation="status",result="ok"}`], 1.0)
	require.Equal(t, 1.0, s[`easel_fal_requests_total{operation="result",result="ok"}`])
	require.Equal(t, 1.0, s[`easel_fal_requests_total{operation="cancel",result="ok"}`])
	require.Equal(t, 3+s[`easel_fal_requests_total{operation="status",result="ok"}`], sumOf(s, "easel_fal_requests_total{"),
		"nothing else counted")
}

// A failed call to fal counts under the class of its failure, the way an
// alert tells fal refusing from fal down from fal unreachable.
func TestCountFalClassifiesFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	submit := func(input string) func(context.Context, fal.Queue) error {
		return func(ctx context.Context, c fal.Queue) error {
			_, err := c.Submit(ctx, fal.SubmitRequest{EndpointID: "fal-ai/fooocus/image-prompt", Input: json.RawMessage(input)})
			return err
		}
	}
	status := func(requestID string) func(context.Context, fal.Queue) error {
		return func(ctx context.Context, c fal.Queue) error {
			statusURL, _, _ := c.RequestURLs("fal-ai/fooocus/image-prompt", requestID)
			_, err := c.Status(ctx, statusURL)
			return err
		}
	}
	expired, cancel := context.WithDeadline(ctx, time.Now())
	t.Cleanup(cancel)

	for _, tt := range []struct {
		name       string
		sim        falsim.Config
		key        string
		closed     bool // a queue URL nothing listens on
		ctx        context.Context
		call       func(context.Context, fal.Queue) error
		wantSeries string
	}{
		{name: "429", sim: falsim.Config{RateLimitRate: 1}, call: submit(falInput), wantSeries: `{operation="submit",result="rate_limited"}`},
		{name: "5xx", sim: falsim.Config{SubmitErrorRate: 1}, call: submit(falInput), wantSeries: `{operation="submit",result="unavailable"}`},
		{name: "401", key: " ", call: submit(falInput), wantSeries: `{operation="submit",result="auth"}`},
		{name: "422", call: submit(`[1]`), wantSeries: `{operation="submit",result="rejected"}`},
		{name: "not sent", call: submit(`{`), wantSeries: `{operation="submit",result="invalid_request"}`},
		{name: "unreachable", closed: true, call: submit(falInput), wantSeries: `{operation="submit",result="unreachable"}`},
		{name: "deadline", ctx: expired, call: submit(falInput), wantSeries: `{operation="submit",result="timeout"}`},
		{name: "unknown request", call: status("0193e0a4-0000-7000-8000-000000000000"), wantSeries: `{operation="status",result="not_found"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			queueURL := closedURL(t)
			if !tt.closed {
				sim, err := falsim.Start(ctx, "127.0.0.1:0", tt.sim)
				require.NoError(t, err)
				t.Cleanup(sim.Close)
				queueURL = sim.QueueURL()
			}
			key := "test-key"
			if tt.key != "" {
				key = tt.key
			}
			m := setup(t).metrics
			client := m.CountFal(fal.NewClient(fal.ClientConfig{QueueURL: queueURL, Key: key}))
			callCtx := ctx
			if tt.ctx != nil {
				callCtx = tt.ctx
			}
			require.Error(t, tt.call(callCtx, client))
			s := metricstest.Scrape(t, m.Handler())
			require.Equal(t, 1.0, s[`easel_fal_requests_total`+tt.wantSeries], tt.wantSeries)
			require.Equal(t, 1.0, sumOf(s, "easel_fal_requests_total{"), "one call, counted once")
			require.Equal(t, 1.0, s[`easel_fal_request_duration_seconds_count`+tt.wantSeries], "timed under the same labels")
			require.Equal(t, 1.0, sumOf(s, "easel_fal_request_duration_seconds_count{"), "one call, timed once")
		})
	}
}

// easel_fal_request_duration_seconds times the calls to fal themselves, by
// operation: fal slow to answer shows in it, whatever the jobs making the
// calls wait for besides.
func TestCountFalTimesEachCall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sim, err := falsim.Start(ctx, "127.0.0.1:0", falsim.Config{})
	require.NoError(t, err)
	t.Cleanup(sim.Close)
	// fal answering every call 30 ms late, as from across the internet.
	const latency = 30 * time.Millisecond
	target, err := url.Parse(sim.QueueURL())
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	slowFal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(latency)
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(slowFal.Close)
	m := setup(t).metrics
	client := m.CountFal(fal.NewClient(fal.ClientConfig{QueueURL: slowFal.URL, Key: "test-key"}))

	resp, err := client.Submit(ctx, fal.SubmitRequest{EndpointID: "fal-ai/fooocus/image-prompt", Input: json.RawMessage(falInput)})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		status, err := client.Status(ctx, resp.StatusURL)
		return err == nil && status.Status == fal.StatusCompleted
	}, 10*time.Second, time.Millisecond)
	_, err = client.Result(ctx, resp.ResponseURL)
	require.NoError(t, err)
	_, err = client.Cancel(ctx, resp.CancelURL)
	require.NoError(t, err)

	s := metricstest.Scrape(t, m.Handler())
	for _, op := range []string{"submit", "status", "result", "cancel"} {
		labels := `{operation="` + op + `",result="ok"`
		calls := s[`easel_fal_requests_total`+labels+`}`]
		require.GreaterOrEqual(t, calls, 1.0, op)
		require.Equal(t, calls, s[`easel_fal_request_duration_seconds_count`+labels+`}`], "%s: every call timed", op)
		require.GreaterOrEqual(t, s[`easel_fal_request_duration_seconds_sum`+labels+`}`], calls*latency.Seconds(), op)
		require.Zero(t, s[`easel_fal_request_duration_seconds_bucket`+labels+`,le="0.025"}`], "%s: no call faster than fal answers", op)
		require.Equal(t, calls, s[`easel_fal_request_duration_seconds_bucket`+labels+`,le="+Inf"}`], op)
	}
	require.Equal(t, sumOf(s, "easel_fal_requests_total{"), sumOf(s, "easel_fal_request_duration_seconds_count{"), "nothing else timed")
}
