package fal_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
)

// retentionTestInput is an input the simulator runs to completion.
var retentionTestInput = json.RawMessage(`{"prompt": "a lighthouse", "image_prompt_1": {"type": "ImagePrompt",
	"image_url": "https://storage.googleapis.com/falserverless/model_tests/fooocus/Pikachu.webp"}}`)

// receivedCall is one call the simulator received: its operation, told
// from its method and path, and its headers.
type receivedCall struct {
	op     string
	header http.Header
}

// headerRecorder is fal's queue API, a simulator's, recording the headers
// of every call before the simulator answers it.
type headerRecorder struct {
	next  http.Handler
	mu    sync.Mutex
	calls []receivedCall
}

func (h *headerRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := "result"
	switch {
	case r.Method == http.MethodPost:
		op = "submit"
	case r.Method == http.MethodPut:
		op = "cancel"
	case strings.HasSuffix(r.URL.Path, "/status"):
		op = "status"
	}
	h.mu.Lock()
	h.calls = append(h.calls, receivedCall{op: op, header: r.Header.Clone()})
	h.mu.Unlock()
	h.next.ServeHTTP(w, r)
}

func (h *headerRecorder) received() []receivedCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]receivedCall(nil), h.calls...)
}

type retentionTestBundle struct {
	client   *fal.Client
	recorder *headerRecorder
}

// setupRetention starts a simulator behind a headerRecorder and a client
// for it configured by cfg, whose QueueURL and Key it sets.
func setupRetention(t *testing.T, cfg fal.ClientConfig) *retentionTestBundle {
	t.Helper()
	sim, err := falsim.New(falsim.Config{})
	require.NoError(t, err)
	recorder := &headerRecorder{next: sim.Handler()}
	server := httptest.NewServer(recorder)
	t.Cleanup(func() {
		sim.Close()
		server.Close()
	})
	cfg.QueueURL, cfg.Key = server.URL, "key-id:key-secret"
	client := fal.NewClient(cfg)
	t.Cleanup(client.CloseIdleConnections)
	return &retentionTestBundle{client: client, recorder: recorder}
}

// Every submit carries the retention headers the client is configured
// with, exactly as fal documents them, and none when it is configured with
// none; status, result and cancel calls never carry them, as fal reads
// them at submit only.
func TestClientSubmitSendsRetentionHeaders(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name            string
		cfg             fal.ClientConfig
		wantLifecycle   string // "" wants no X-Fal-Object-Lifecycle-Preference
		wantLifetimeSec int64
		wantStoreIO     string // "" wants no X-Fal-Store-IO
	}{
		{name: "neither configured"},
		{
			name: "media expiration", cfg: fal.ClientConfig{MediaExpiration: 24 * time.Hour},
			wantLifecycle: `{"expiration_duration_seconds": 86400}`, wantLifetimeSec: 86400,
		},
		{
			name: "one second", cfg: fal.ClientConfig{MediaExpiration: time.Second},
			wantLifecycle: `{"expiration_duration_seconds": 1}`, wantLifetimeSec: 1,
		},
		{name: "store IO disabled", cfg: fal.ClientConfig{DisableStoreIO: true}, wantStoreIO: "0"},
		{
			name: "both", cfg: fal.ClientConfig{MediaExpiration: 90 * time.Second, DisableStoreIO: true},
			wantLifecycle: `{"expiration_duration_seconds": 90}`, wantLifetimeSec: 90, wantStoreIO: "0",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupRetention(t, tt.cfg)
			ctx := context.Background()

			queued, err := b.client.Submit(ctx, fal.SubmitRequest{EndpointID: fal.EndpointImagePrompt, Input: retentionTestInput})
			require.NoError(t, err)
			require.Eventually(t, func() bool {
				status, err := b.client.Status(ctx, queued.StatusURL)
				return err == nil && status.Status == fal.StatusCompleted
			}, 10*time.Second, 10*time.Millisecond)
			_, err = b.client.Result(ctx, queued.ResponseURL)
			require.NoError(t, err)
			outcome, err := b.client.Cancel(ctx, queued.CancelURL)
			require.NoError(t, err)
			require.Equal(t, fal.CancelAlreadyCompleted, outcome)

			seen := map[string]int{}
			for _, call := range b.recorder.received() {
				seen[call.op]++
				lifecycle, storeIO := call.header.Values("X-Fal-Object-Lifecycle-Preference"), call.header.Values("X-Fal-Store-IO")
				if call.op != "submit" {
					require.Empty(t, lifecycle, "%s sends no lifecycle preference", call.op)
					require.Empty(t, storeIO, "%s sends no X-Fal-Store-IO", call.op)
					continue
				}
				if tt.wantLifecycle == "" {
					require.Empty(t, lifecycle)
				} else {
					require.Equal(t, []string{tt.wantLifecycle}, lifecycle)
					var preference map[string]int64
					require.NoError(t, json.Unmarshal([]byte(lifecycle[0]), &preference))
					require.Equal(t, map[string]int64{"expiration_duration_seconds": tt.wantLifetimeSec}, preference)
				}
				if tt.wantStoreIO == "" {
					require.Empty(t, storeIO)
				} else {
					require.Equal(t, []string{tt.wantStoreIO}, storeIO)
				}
			}
			require.Equal(t, 1, seen["submit"])
			require.Positive(t, seen["status"])
			require.Equal(t, 1, seen["result"])
			require.Equal(t, 1, seen["cancel"])
		})
	}
}

// A media expiration fal cannot be told, in whole seconds of at least one,
// refuses every submit before anything is sent, rather than have fal keep
// the media for another time than the one asked for. Only submits carry
// it: the other calls go on.
func TestClientRefusesUnsendableMediaExpiration(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		expiration time.Duration
		want       string
	}{
		{name: "fraction of a second", expiration: 1500 * time.Millisecond, want: "media expiration 1.5s is not a whole number of seconds, at least 1s"},
		{name: "below a second", expiration: 500 * time.Millisecond, want: "media expiration 500ms is not a whole number of seconds, at least 1s"},
		{name: "negative", expiration: -time.Hour, want: "media expiration -1h0m0s is not a whole number of seconds, at least 1s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupRetention(t, fal.ClientConfig{MediaExpiration: tt.expiration})
			ctx := context.Background()

			_, err := b.client.Submit(ctx, fal.SubmitRequest{EndpointID: fal.EndpointImagePrompt, Input: retentionTestInput})
			require.ErrorIs(t, err, fal.ErrInvalidRequest)
			require.ErrorContains(t, err, tt.want)
			require.Empty(t, b.recorder.received(), "nothing was sent")

			statusURL, _, _ := b.client.RequestURLs(fal.EndpointImagePrompt, "764cabcf-b745-4b3e-ae38-1200304cf45b")
			_, err = b.client.Status(ctx, statusURL)
			var apiErr *fal.APIError
			require.ErrorAs(t, err, &apiErr, "the status call reached the simulator")
			require.Equal(t, http.StatusNotFound, apiErr.StatusCode)
		})
	}
}
