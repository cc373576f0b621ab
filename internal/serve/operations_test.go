package serve_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/internal/metricstest"
	"github.com/easelhq/easel/internal/serve"
)

// metrics scrapes /metrics and returns every sample by series, such as
// `easel_generations{status="queued"}`.
func (b *testBundle) metrics(t *testing.T) map[string]float64 {
	t.Helper()
	status, body := b.do(t, http.MethodGet, "/metrics", nil, nil)
	require.Equal(t, http.StatusOK, status, string(body))
	return metricstest.Samples(t, string(body))
}

func TestMetricsAfterGeneration(t *testing.T) {
	t.Parallel()
	b := setupWithConfig(t, func(cfg *serve.Config) { cfg.Simulator = fastSimulator() }, io.Discard)

	g := b.enqueue(t, exampleInput)
	require.Equal(t, "completed", b.awaitTerminal(t, g.ID).Status)
	// One waiting for an hour, and a webhook for it that is not signed.
	later := b.enqueue(t, withField(t, exampleInput, "run_at", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)))
	status, _ := b.do(t, http.MethodPost, "/webhooks/fal/"+later.ID, http.Header{"Content-Type": {"application/json"}}, []byte(`{}`))
	require.Equal(t, http.StatusUnauthorized, status)

	want := map[string]float64{
		`easel_generations{status="completed"}`:                                             1,
		`easel_generations{status="queued"}`:                                                1,
		`easel_generations{status="failed"}`:                                                0,
		`easel_generations_in_flight`:                                                       0,
		`easel_generations_in_flight_limit`:                                                 32,
		`easel_river_jobs{queue="default",state="scheduled"}`:                               1,
		`easel_webhooks_received_total{outcome="applied"}`:                                  1,
		`easel_webhooks_received_total{outcome="bad_signature"}`:                            1,
		`easel_webhooks_received_total{outcome="duplicate"}`:                                0,
		`easel_generation_time_to_complete_seconds_count`:                                   1,
		`easel_job_duration_seconds_count{kind="submit_generation",result="ok"}`:            1,
		`easel_callbacks_total{outcome="delivered"}`:                                        0,
		`easel_generation_time_to_complete_seconds_bucket{le="+Inf"}`:                       1,
		`easel_job_duration_seconds_bucket{kind="submit_generation",result="ok",le="+Inf"}`: 1,
	}
	// Counters move just after the response that showed the result.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		s := b.metrics(t)
		for series, v := range want {
			if assert.Contains(c, s, series) {
				assert.Equal(c, v, s[series], series)
			}
		}
	}, 10*time.Second, 20*time.Millisecond)
	require.Contains(t, b.metrics(t), "go_goroutines")
}

func TestRiverUI(t *testing.T) {
	t.Parallel()
	b := setup(t)

	// Open, like /v1, while no key exists on a loopback address.
	status, body := b.do(t, http.MethodGet, "/riverui/", nil, nil)
	require.Equal(t, http.StatusOK, status, string(body))
	require.Contains(t, string(body), "<title>River</title>")
	status, body = b.do(t, http.MethodGet, "/riverui/api/jobs?state=available&limit=5", nil, nil)
	require.Equal(t, http.StatusOK, status, string(body))
	require.Contains(t, string(body), `"data"`)

	// Once a key exists, River UI wants one, as /v1 does, or the gallery's
	// browser session.
	key, _, err := api.CreateKey(b.ctx, b.pool, "operations")
	require.NoError(t, err)
	session := b.signIn(t, key)
	for _, path := range []string{"/riverui/", "/riverui/api/jobs?state=available"} {
		status, _ = b.do(t, http.MethodGet, path, nil, nil)
		require.Equal(t, http.StatusUnauthorized, status, path)
		status, _ = b.do(t, http.MethodGet, path, http.Header{"Authorization": {"Bearer " + key}}, nil)
		require.Equal(t, http.StatusOK, status, path)
		status, _ = b.do(t, http.MethodGet, path, http.Header{"Cookie": {session.String()}}, nil)
		require.Equal(t, http.StatusOK, status, path)
	}

	// A browser without a session is sent to sign in.
	req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, b.baseURL+"/riverui/", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/html")
	resp, err := http.DefaultTransport.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/login?next=%2Friverui%2F", resp.Header.Get("Location"))

	status, _ = b.do(t, http.MethodGet, "/metrics", nil, nil)
	require.Equal(t, http.StatusOK, status, "metrics stay open to the scraper")
}

// signIn signs in to the gallery with key, as a person would, and returns
// the session cookie.
func (b *testBundle) signIn(t *testing.T, key string) *http.Cookie {
	t.Helper()
	req, err := http.NewRequestWithContext(b.ctx, http.MethodPost, b.baseURL+"/login",
		strings.NewReader(url.Values{"key": {key}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultTransport.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	for _, c := range resp.Cookies() {
		if c.Name == "easel_session" {
			return &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}
	t.Fatal("signing in set no session cookie")
	return nil
}
