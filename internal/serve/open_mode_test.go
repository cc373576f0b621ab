package serve_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/internal/serve"
)

// protectedPaths are a page of each kind behind the API's keys: /v1, River
// UI's API and the gallery.
var protectedPaths = []string{"/v1/generations", "/riverui/api/jobs?state=available", "/"}

// requestAs sends a keyless GET of path addressed to host with header, and
// returns the status and the error's code and message, if any.
func (b *testBundle) requestAs(t *testing.T, host, path string, header http.Header) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, b.baseURL+path, nil)
	require.NoError(t, err)
	req.Host = host
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct {
		Error struct{ Code, Message string }
	}
	if resp.StatusCode >= 400 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	}
	return resp.StatusCode, body.Error.Code, body.Error.Message
}

// TestAPIOpenOnlyWithInProcessSimulator: requests without a key are
// admitted, until the first key exists, only by easel serve running its
// in-process simulator with its own workers, where they cost nothing. With
// a real FAL_KEY, EASEL_PUBLIC_URL leads to this listener, and whatever
// carries fal's webhooks in (a tunnel such as ngrok, a reverse proxy on the
// host) connects from loopback: were it open, anyone on the internet could
// enqueue generations billed to FAL_KEY. With --role api, the workers that
// submit may hold one.
func TestAPIOpenOnlyWithInProcessSimulator(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name      string
		configure func(*serve.Config)
		open      bool
	}{
		{name: "quick start: in-process simulator", configure: func(*serve.Config) {}, open: true},
		{name: "FAL_KEY, reached through EASEL_PUBLIC_URL", configure: func(cfg *serve.Config) {
			// Not loopback, so Easel takes it for fal; TEST-NET-1, so
			// nothing is ever sent anywhere.
			cfg.FalKey, cfg.FalQueueURL, cfg.PublicURL = "key-id:key-secret", "https://192.0.2.1", "https://easel-demo.example.com"
		}},
		{name: "--role api without FAL_KEY", configure: func(cfg *serve.Config) { cfg.Role = serve.RoleAPI }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs logtest.Buffer
			b := setupWithConfig(t, tt.configure, &logs)
			host := strings.TrimPrefix(b.baseURL, "http://")

			if tt.open {
				for _, path := range protectedPaths {
					status, _, message := b.requestAs(t, host, path, nil)
					require.Equal(t, http.StatusOK, status, "%s: %s", path, message)
				}
				require.Contains(t, logs.String(), "accept requests without a key")
				return
			}

			// As the tunnel forwards a request: from loopback, no key.
			forwarded := http.Header{"X-Forwarded-For": {"203.0.113.7"}}
			for _, path := range protectedPaths {
				status, code, message := b.requestAs(t, "easel-demo.example.com", path, forwarded)
				require.Equal(t, http.StatusUnauthorized, status, path)
				require.Equal(t, "unauthorized", code, path)
				require.Contains(t, message, "easel keys create NAME", path)
			}
			status, _, message := b.requestAs(t, host, "/v1/generations", nil)
			require.Equal(t, http.StatusUnauthorized, status)
			require.Equal(t, "an API key is required, and none exists yet: create one with `easel keys create NAME`, "+
				"then send it in the header Authorization: Bearer followed by the key", message)
			require.Contains(t, logs.String(), "no API key exists, so /v1, the gallery and River UI refuse every request")

			key, _, err := api.CreateKey(b.ctx, b.pool, "billing")
			require.NoError(t, err)
			for _, path := range protectedPaths {
				status, _, message := b.requestAs(t, "easel-demo.example.com", path, http.Header{"Authorization": {"Bearer " + key}})
				require.Equal(t, http.StatusOK, status, "%s: %s", path, message)
			}
		})
	}
}

// TestOpenAPIRefusesForeignHostsAndCrossSiteChanges: while the API is open
// (the quick start), any page the developer's browser has open can send it
// requests. A page whose name is re-pointed at 127.0.0.1 (DNS rebinding)
// would read /v1 and the gallery as its own, and a cross-site POST needing
// no preflight (text/plain) would cancel, retry or delete River UI's jobs
// by their sequential ids. The quick start's own requests, addressed to
// 127.0.0.1 or localhost, and River UI used from Easel's own origin, work.
func TestOpenAPIRefusesForeignHostsAndCrossSiteChanges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	host := strings.TrimPrefix(b.baseURL, "http://")
	_, port, _ := strings.Cut(host, ":")

	for _, h := range []string{host, "localhost:" + port, "[::1]:" + port} {
		for _, path := range protectedPaths {
			status, _, message := b.requestAs(t, h, path, nil)
			require.Equal(t, http.StatusOK, status, "Host %s, %s: %s", h, path, message)
		}
	}
	for _, h := range []string{"rebound.evil.example", "rebound.evil.example:" + port} {
		for _, path := range protectedPaths {
			status, code, _ := b.requestAs(t, h, path, nil)
			require.Equal(t, http.StatusForbidden, status, "Host %s, %s", h, path)
			require.Equal(t, "host_not_allowed", code, "Host %s, %s", h, path)
		}
		// A browser gets a page that says so, not an internal error.
		status, _, _ := b.requestAs(t, h, "/", http.Header{"Accept": {"text/html"}})
		require.Equal(t, http.StatusForbidden, status, "Host %s", h)
	}

	runAt := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	g := b.enqueue(t, `{"prompt": "private", "run_at": "`+runAt+`", "image_prompt_1": {"image_url": "https://example.com/a.png"}}`)
	var jobID int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT id FROM river_job WHERE args->>'generation_id' = $1`, g.ID).Scan(&jobID))
	cancel := []byte(`{"ids": ["` + strconv.FormatInt(jobID, 10) + `"]}`)
	jobState := func() string {
		var state string
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT state::text FROM river_job WHERE id = $1`, jobID).Scan(&state))
		return state
	}

	status, body := b.do(t, http.MethodPost, "/riverui/api/jobs/cancel", http.Header{
		"Content-Type":   {"text/plain"},
		"Origin":         {"https://evil.example"},
		"Sec-Fetch-Site": {"cross-site"},
		"Sec-Fetch-Mode": {"no-cors"},
	}, cancel)
	require.Equal(t, http.StatusForbidden, status, string(body))
	require.Contains(t, string(body), `"cross_origin"`)
	require.Equal(t, "scheduled", jobState(), "a cross-site page cancelled the job")

	// River UI itself, on Easel's origin, still cancels it.
	status, body = b.do(t, http.MethodPost, "/riverui/api/jobs/cancel", http.Header{
		"Content-Type":   {"application/json"},
		"Origin":         {b.baseURL},
		"Sec-Fetch-Site": {"same-origin"},
	}, cancel)
	require.Equal(t, http.StatusOK, status, string(body))
	require.Equal(t, "cancelled", jobState())
}
