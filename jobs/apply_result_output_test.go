package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

// servedOutput is fal's queue as the simulator answers it, except that the
// result of every request is output: what fal may serve that its own
// simulator never does.
type servedOutput struct {
	fal.Queue
	output string
}

func (s servedOutput) Result(context.Context, string) (json.RawMessage, error) {
	return json.RawMessage(s.output), nil
}

// resultPath delivers output, fal's output for gen's request, to gen the
// way a path of Easel's receives it.
type resultPath struct {
	name string
	// sim is the simulator the path runs against.
	sim falsim.Config
	// deliver hands output to Easel for gen, submitted.
	deliver func(t *testing.T, b *testBundle, gen *store.Generation, output string)
	// kept returns the raw output the path kept for gen.
	kept func(t *testing.T, b *testBundle, gen *store.Generation) string
}

var resultPaths = []resultPath{
	{
		name: "webhook",
		sim:  running, // fal never finishes: only the test's webhook does
		deliver: func(t *testing.T, b *testBundle, gen *store.Generation, output string) {
			body := fmt.Sprintf(`{"error": null, "gateway_request_id": %[1]q, "payload": %[2]s, "request_id": %[1]q, "status": "OK"}`,
				*gen.FalRequestID, output)
			require.Equal(t, store.OutcomeApplied, b.deliverSigned(t, gen.ID, *gen.FalRequestID, body))
		},
		kept: func(t *testing.T, b *testBundle, gen *store.Generation) string {
			var body []byte
			require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT body FROM webhook_events WHERE generation_id = $1`, gen.ID).Scan(&body))
			var delivery struct {
				Payload json.RawMessage `json:"payload"`
			}
			require.NoError(t, json.Unmarshal(body, &delivery))
			return string(delivery.Payload)
		},
	},
	{
		name: "poll",
		sim:  falsim.Config{WebhookDropRate: 1}, // fal finishes at once, and its webhook is lost
		deliver: func(t *testing.T, b *testBundle, gen *store.Generation, output string) {
			b.awaitCompletedAtFal(t, 1)
			b.cfg.Fal, b.cfg.PollAfter = servedOutput{Queue: b.fal, output: output}, time.Nanosecond
			b.reconcile(t)
		},
		kept: func(t *testing.T, b *testBundle, gen *store.Generation) string {
			results, err := store.ListPolledResults(b.ctx, b.pool, gen.ID)
			require.NoError(t, err)
			require.Len(t, results, 1)
			require.Equal(t, *gen.FalRequestID, results[0].FalRequestID)
			require.Equal(t, fal.WebhookStatusOK, results[0].Status)
			require.Equal(t, store.OutcomeApplied, results[0].Outcome)
			return string(results[0].Body)
		},
	},
}

// submitted enqueues and submits a generation, and returns it submitted.
func (b *testBundle) submitted(t *testing.T) *store.Generation {
	t.Helper()
	gen := b.enqueue(t, "tests")
	require.NoError(t, b.submit(t, gen.ID))
	got := b.generation(t, gen.ID)
	require.Equal(t, store.StatusSubmitted, got.Status)
	return got
}

// fal completed the request, and likely billed it: an output whose images
// all have a usable URL completes the generation, by webhook or by poll,
// whatever fal got wrong in its informational fields, which are absent
// instead; NSFW flags that do not line up with the images are unknown,
// never "not NSFW"; and fal's output is kept exactly as it came.
func TestOddOutputCompletes(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	image := func(name string, extra string) string {
		return `{"url": "https://v3.fal.media/files/x/` + name + `.png"` + extra + `}`
	}
	stored := func(name string, nsfw *bool) store.Image {
		return store.Image{URL: "https://v3.fal.media/files/x/" + name + ".png", NSFW: nsfw}
	}

	tests := []struct {
		name        string
		output      string
		wantImages  []store.Image
		wantHasNSFW *bool
	}{
		{
			name:       "one flag for two images",
			output:     `{"images": [` + image("a", "") + `, ` + image("b", "") + `], "has_nsfw_concepts": [true]}`,
			wantImages: []store.Image{stored("a", nil), stored("b", nil)},
		},
		{
			name:   "fractional file_size, width in pixels",
			output: `{"images": [` + image("a", `, "file_size": 4404019.5, "width": "1024px", "height": 1024, "content_type": "image/png"`) + `], "has_nsfw_concepts": [false]}`,
			wantImages: []store.Image{{URL: "https://v3.fal.media/files/x/a.png", Height: 1024, ContentType: "image/png",
				NSFW: &no}},
			wantHasNSFW: &no,
		},
		{
			name:       "null flags",
			output:     `{"images": [` + image("a", "") + `], "has_nsfw_concepts": null, "timings": {"inference": 2.5}}`,
			wantImages: []store.Image{stored("a", nil)},
		},
		{
			name:       "no flags",
			output:     `{"images": [` + image("a", "") + `]}`,
			wantImages: []store.Image{stored("a", nil)},
		},
		{
			name:       "a null among the flags",
			output:     `{"images": [` + image("a", "") + `, ` + image("b", "") + `], "has_nsfw_concepts": [false, null]}`,
			wantImages: []store.Image{stored("a", &no), stored("b", nil)},
		},
		{
			name:        "a flag beside an unknown one",
			output:      `{"images": [` + image("a", "") + `, ` + image("b", "") + `], "has_nsfw_concepts": ["false", true]}`,
			wantImages:  []store.Image{stored("a", nil), stored("b", &yes)},
			wantHasNSFW: &yes,
		},
		{
			name:       "flags a scalar",
			output:     `{"images": [` + image("a", "") + `], "has_nsfw_concepts": false}`,
			wantImages: []store.Image{stored("a", nil)},
		},
	}
	for _, path := range resultPaths {
		for _, tt := range tests {
			t.Run(path.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				b := setup(t, path.sim)
				gen := b.submitted(t)

				path.deliver(t, b, gen, tt.output)

				got := b.generation(t, gen.ID)
				require.Equal(t, store.StatusCompleted, got.Status, "error: %v", got.ErrorMessage)
				require.Nil(t, got.ErrorCode)
				require.Equal(t, tt.wantHasNSFW, got.HasNSFW, "unknown flags leave has_nsfw unknown unless one is set")
				require.Equal(t, len(tt.wantImages), *got.ImageCount)
				want := make([]store.Image, len(tt.wantImages))
				for i, im := range tt.wantImages {
					im.Position = i
					want[i] = im
				}
				require.Equal(t, want, b.images(t, gen.ID))
				require.Equal(t, tt.output, path.kept(t, b, gen), "fal's output is kept as it came")
			})
		}
	}
}

// An output with nothing to record (no images, an image without a usable
// URL, not an object) fails the generation invalid_output, by webhook or
// by poll, with fal.DecodeOutput's reason said once, and fal's output
// kept; the reconciler logs it at ERROR with the generation's id, since
// fal completed, and likely billed, the request.
func TestUnreadableOutputFailsKept(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name        string
		output      string
		wantMessage string
	}{
		{name: "no images", output: `{"images": [], "has_nsfw_concepts": []}`, wantMessage: "decode fal output: images is empty"},
		{name: "images missing", output: `{"image": {"url": "https://x/a.png"}}`, wantMessage: "decode fal output: images is missing"},
		{
			name: "an image without a usable URL", output: `{"images": [{"url": "https://x/a.png"}, {"url": "ftp://x/b.png"}]}`,
			wantMessage: "decode fal output: images[1].url is not an absolute http(s) URL",
		},
		{
			// What fal answers under sync_mode, which Easel never sets.
			name: "a data: URL", output: `{"images": [{"url": "data:image/png;base64,iVBORw0KGgo="}], "has_nsfw_concepts": [false]}`,
			wantMessage: "decode fal output: images[0].url is a data: URL, not an http(s) URL of an image fal hosts (Easel never sets sync_mode)",
		},
		{
			name: "an empty data: URL", output: `{"images": [{"url": "data:image/,"}]}`,
			wantMessage: "decode fal output: images[0].url is a data: URL, not an http(s) URL of an image fal hosts (Easel never sets sync_mode)",
		},
		{name: "not an object", output: `"done"`, wantMessage: "decode fal output: not a JSON object"},
	}
	for _, path := range resultPaths {
		for _, tt := range tests {
			t.Run(path.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				b := setup(t, path.sim)
				logs := &lockedBuffer{}
				b.cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				gen := b.submitted(t)

				path.deliver(t, b, gen, tt.output)

				got := b.generation(t, gen.ID)
				require.Equal(t, store.StatusFailed, got.Status)
				require.Equal(t, store.ErrorCodeInvalidOutput, *got.ErrorCode)
				require.Equal(t, tt.wantMessage, *got.ErrorMessage)
				require.Empty(t, b.images(t, gen.ID))
				require.Equal(t, tt.output, path.kept(t, b, gen), "fal's output is kept as it came")
				if path.name == "poll" {
					line := logs.line(t, "level=ERROR")
					require.Contains(t, line, "generation_id="+gen.ID.String())
					require.Contains(t, line, "error_code=invalid_output")
					require.Contains(t, line, "polled_results")
					require.NotContains(t, logs.String(), "generation failed at fal")
				}
			})
		}
	}
}

// fal's own failures are fal's: explained at INFO. Easel's failing to read
// what fal completed is logged at ERROR, saying where fal's output is.
func TestLogResultFailure(t *testing.T) {
	t.Parallel()

	tests := []struct {
		code      string
		wantLevel string
		wantMsg   string
	}{
		{code: "content_policy_violation", wantLevel: "level=INFO", wantMsg: `msg="generation failed at fal"`},
		{code: store.ErrorCodeFalError, wantLevel: "level=INFO", wantMsg: `msg="generation failed at fal"`},
		{code: store.ErrorCodeInvalidOutput, wantLevel: "level=ERROR", wantMsg: "Easel could not read its output"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			jobs.LogResultFailure(slog.New(slog.NewTextHandler(&logs, nil)).With("generation_id", "g1"), tt.code, "why", "fal_request_id", "r1")
			line := logs.String()
			require.Equal(t, 1, strings.Count(line, "\n"), line)
			require.Contains(t, line, tt.wantLevel)
			require.Contains(t, line, tt.wantMsg)
			for _, attr := range []string{"generation_id=g1", "fal_request_id=r1", "error_code=" + tt.code, "error_message=why"} {
				require.Contains(t, line, attr)
			}
		})
	}
}

// lockedBuffer is a log destination that workers may write to while a
// test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// line returns the only log line that contains s.
func (l *lockedBuffer) line(t *testing.T, s string) string {
	t.Helper()
	var found []string
	for line := range strings.Lines(l.String()) {
		if strings.Contains(line, s) {
			found = append(found, line)
		}
	}
	require.Len(t, found, 1, l.String())
	return found[0]
}
