package serve_test

import (
	"bytes"
	"encoding/json"
	"image"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/internal/serve"
)

// Image URLs of simulated generations point at Easel's own listener, not at
// the simulator's ephemeral port, and still load after a restart: the URL
// stored by one easel serve is served by the next on the same address.
func TestSimulatedImagesOutliveRestart(t *testing.T) {
	t.Parallel()

	cfg := testConfig(t, dbtest.URL(t))
	cfg.Simulator = &falsim.Config{} // instant results
	first := start(t, cfg, &logtest.Buffer{})
	g := first.enqueue(t, `{"image_prompt_1": {"image_url": "https://example.com/a.png"}, "num_images": 2, "output_format": "png"}`)
	g = first.awaitTerminal(t, g.ID)
	require.Equal(t, "completed", g.Status)
	require.Len(t, g.Images, 2)
	require.NoError(t, first.shutdown())

	// The same address, so the same EASEL_PUBLIC_URL; the simulator gets a
	// new port.
	cfg.Addr = strings.TrimPrefix(first.baseURL, "http://")
	second := start(t, cfg, &logtest.Buffer{})
	status, body := second.do(t, http.MethodGet, "/v1/generations/"+g.ID, nil, nil)
	require.Equal(t, http.StatusOK, status, string(body))
	var stored generation
	require.NoError(t, json.Unmarshal(body, &stored))
	require.Equal(t, g.Images, stored.Images)
	for _, im := range stored.Images {
		path, ok := strings.CutPrefix(im.URL, second.baseURL+"/_sim/files/")
		require.True(t, ok, "%s is on Easel's listener", im.URL)
		require.True(t, strings.HasSuffix(path, ".png"), path)

		status, raw := second.do(t, http.MethodGet, "/_sim/files/"+path, nil, nil)
		require.Equal(t, http.StatusOK, status, string(raw))
		size, format, err := image.DecodeConfig(bytes.NewReader(raw))
		require.NoError(t, err)
		require.Equal(t, "png", format)
		require.Equal(t, [2]int{im.Width, im.Height}, [2]int{size.Width, size.Height})
		require.Len(t, raw, int(im.FileSize))
	}

	resp, err := http.Get(stored.Images[0].URL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "image/png", resp.Header.Get("Content-Type"))
}

// Easel's listener serves the simulator's files and nothing else of it: the
// queue API and its counters stay on the simulator's loopback port.
func TestSimulatorRoutesOnEaselListener(t *testing.T) {
	t.Parallel()
	b := setup(t)

	for _, tt := range []struct {
		method, path string
		want         int
		contentType  string
	}{
		{http.MethodGet, "/_sim/files/64x64/0/a.jpeg", http.StatusOK, "image/jpeg"},
		{http.MethodHead, "/_sim/files/64x64/0/a.webp", http.StatusOK, "image/webp"},
		{http.MethodGet, "/_sim/files/64x64/0/a.gif", http.StatusNotFound, "application/json"},
		{http.MethodPost, "/_sim/files/64x64/0/a.png", http.StatusMethodNotAllowed, "application/json"},
		{http.MethodGet, "/_sim/stats", http.StatusNotFound, "application/json"},
		{http.MethodGet, "/.well-known/jwks.json", http.StatusNotFound, "application/json"},
		{http.MethodPost, "/fal-ai/fooocus/image-prompt", http.StatusNotFound, "application/json"},
	} {
		req, err := http.NewRequestWithContext(t.Context(), tt.method, b.baseURL+tt.path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, tt.want, resp.StatusCode, "%s %s", tt.method, tt.path)
		require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), tt.contentType), "%s %s: %s", tt.method, tt.path, resp.Header.Get("Content-Type"))
	}
}

// Without FAL_KEY the first thing easel serve logs is that it uses the
// simulator, before creating and migrating the database.
func TestSimulatorNoticeComesFirst(t *testing.T) {
	t.Parallel()
	logs := &logtest.Buffer{}
	setupWithConfig(t, func(*serve.Config) {}, logs)

	first := logs.Records(t)[0]
	require.Equal(t, "FAL_KEY is unset: using the in-process fal simulator; no request reaches fal.ai", first["msg"])
	require.Contains(t, first["faults"], "latency=500ms..2s")
	started := logs.Lines(t, "fal simulator started")
	require.Len(t, started, 1)
	require.True(t, strings.HasSuffix(started[0]["files_url"].(string), "/_sim/files"), started[0]["files_url"])
}
