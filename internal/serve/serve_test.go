package serve_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg" // image.DecodeConfig of the simulator's images
	_ "image/png"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/serve"
)

// exampleInput is the example of fal's API page for the endpoint.
const exampleInput = `{"prompt": "a pikachu in a field", "num_images": 2, "image_prompt_1": {"weight": 1, "stop_at": 1, "type": "PyraCanny",
	"image_url": "https://storage.googleapis.com/falserverless/model_tests/fooocus/Pikachu.webp"}}`

type testBundle struct {
	ctx     context.Context // serve's; cancelled by shutdown
	baseURL string
	pool    *pgxpool.Pool
	// shutdown cancels serve's context, as SIGTERM does, and returns what
	// Run returned. Later calls return the same.
	shutdown func() error
	// exited waits for Run to return by itself, and returns what it
	// returned, which the test then checks instead of the cleanup.
	exited func() error
}

// setup runs a whole easel serve (in-process simulator, real Postgres) on an
// ephemeral port.
func setup(t *testing.T) *testBundle {
	t.Helper()
	return setupWithSimulator(t, nil)
}

func setupWithSimulator(t *testing.T, sim *falsim.Config) *testBundle {
	t.Helper()
	return setupWithConfig(t, func(cfg *serve.Config) { cfg.Simulator = sim }, io.Discard)
}

// setupWithConfig is setup with the configuration changed by configure and
// JSON logs written to logs.
func setupWithConfig(t *testing.T, configure func(*serve.Config), logs io.Writer) *testBundle {
	t.Helper()
	cfg := testConfig(t, dbtest.URL(t))
	configure(&cfg)
	return start(t, cfg, logs)
}

// testConfig is the configuration of an easel serve on databaseURL and an
// ephemeral port, with the in-process simulator.
func testConfig(t *testing.T, databaseURL string) serve.Config {
	t.Helper()
	cfg, err := serve.ConfigFromEnv(func(name string) string {
		switch name {
		case "DATABASE_URL":
			return databaseURL
		case "EASEL_ADDR":
			return "127.0.0.1:0"
		}
		return ""
	})
	require.NoError(t, err)
	return cfg
}

// start runs easel serve with cfg until the test ends or the bundle's
// shutdown is called.
func start(t *testing.T, cfg serve.Config, logs io.Writer) *testBundle {
	t.Helper()
	b, err := tryStart(t, cfg, logs)
	require.NoError(t, err, "serve exited before it was ready")
	return b
}

// tryStart is start, returning what Run returned if it exits before it
// is ready.
func tryStart(t *testing.T, cfg serve.Config, logs io.Writer) (*testBundle, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	go func() { done <- serve.Run(ctx, cfg, logger, func(a string) { addr <- a }) }()
	returned := sync.OnceValue(func() error { return <-done })
	shutdown := sync.OnceValue(func() error {
		cancel()
		return returned()
	})
	var awaited atomic.Bool
	exited := func() error {
		awaited.Store(true)
		return returned()
	}
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		cancel()
		return nil, err
	}
	t.Cleanup(func() {
		if err := shutdown(); !awaited.Load() {
			require.NoError(t, err)
		}
	})
	pool, err := pgxpool.New(context.Background(), cfg.DatabaseURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return &testBundle{ctx: ctx, baseURL: base, pool: pool, shutdown: shutdown, exited: exited}, nil
}

type generation struct {
	ID           string  `json:"id"`
	Status       string  `json:"status"`
	FalRequestID *string `json:"fal_request_id"`
	Images       []struct {
		URL         string `json:"url"`
		ContentType string `json:"content_type"`
		FileName    string `json:"file_name"`
		FileSize    int64  `json:"file_size"`
		Width       int    `json:"width"`
		Height      int    `json:"height"`
		NSFW        bool   `json:"nsfw"`
	} `json:"images"`
}

func (b *testBundle) do(t *testing.T, method, path string, header http.Header, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(b.ctx, method, b.baseURL+path, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, out
}

func (b *testBundle) enqueue(t *testing.T, input string) generation {
	t.Helper()
	status, body := b.do(t, http.MethodPost, "/v1/generations", http.Header{"Content-Type": {"application/json"}}, []byte(input))
	require.Equal(t, http.StatusAccepted, status, string(body))
	var g generation
	require.NoError(t, json.Unmarshal(body, &g))
	require.Equal(t, "queued", g.Status)
	return g
}

func (b *testBundle) awaitTerminal(t *testing.T, id string) generation {
	t.Helper()
	var g generation
	require.Eventually(t, func() bool {
		status, body := b.do(t, http.MethodGet, "/v1/generations/"+id, nil, nil)
		require.Equal(t, http.StatusOK, status, string(body))
		require.NoError(t, json.Unmarshal(body, &g))
		return g.Status == "completed" || g.Status == "failed" || g.Status == "cancelled"
	}, 30*time.Second, 50*time.Millisecond)
	return g
}

type storedEvent struct {
	body    []byte
	headers map[string]string
	outcome string
	valid   bool
}

func (b *testBundle) events(t *testing.T, id string) []storedEvent {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, `SELECT body, headers, outcome, signature_valid FROM webhook_events WHERE generation_id = $1 ORDER BY id`, id)
	require.NoError(t, err)
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storedEvent, error) {
		var e storedEvent
		return e, row.Scan(&e.body, &e.headers, &e.outcome, &e.valid)
	})
	require.NoError(t, err)
	return events
}

func TestGenerationEndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t)

	g := b.enqueue(t, exampleInput)
	g = b.awaitTerminal(t, g.ID)
	require.Equal(t, "completed", g.Status)
	require.NotNil(t, g.FalRequestID)
	require.Len(t, g.Images, 2)

	// The images are exactly what the simulator's signed webhook reported.
	events := b.events(t, g.ID)
	require.Len(t, events, 1)
	require.True(t, events[0].valid)
	require.Equal(t, "applied", events[0].outcome)
	var delivered struct {
		RequestID string `json:"request_id"`
		Payload   struct {
			Images          []map[string]any `json:"images"`
			HasNSFWConcepts []bool           `json:"has_nsfw_concepts"`
		} `json:"payload"`
	}
	require.NoError(t, json.Unmarshal(events[0].body, &delivered))
	require.Equal(t, *g.FalRequestID, delivered.RequestID)
	require.Len(t, delivered.Payload.Images, 2)
	for i, im := range g.Images {
		want := delivered.Payload.Images[i]
		require.Equal(t, want["url"], im.URL)
		require.Equal(t, want["content_type"], im.ContentType)
		require.Equal(t, want["file_name"], im.FileName)
		require.EqualValues(t, want["file_size"], im.FileSize)
		require.EqualValues(t, want["width"], im.Width)
		require.EqualValues(t, want["height"], im.Height)
		require.Equal(t, delivered.Payload.HasNSFWConcepts[i], im.NSFW)

		// And the URL, on Easel's own listener, serves a real image of that
		// size, in fal's default format.
		require.True(t, strings.HasPrefix(im.URL, b.baseURL+"/_sim/files/"), im.URL)
		require.Equal(t, "image/jpeg", im.ContentType)
		resp, err := http.Get(im.URL)
		require.NoError(t, err)
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, im.ContentType, resp.Header.Get("Content-Type"))
		require.Len(t, raw, int(im.FileSize))
		cfg, format, err := image.DecodeConfig(bytes.NewReader(raw))
		require.NoError(t, err)
		require.Equal(t, "jpeg", format)
		require.Equal(t, im.Width, cfg.Width)
		require.Equal(t, im.Height, cfg.Height)
	}

	// A duplicate delivery is stored and changes nothing.
	header := http.Header{}
	for k, v := range events[0].headers {
		header.Set(k, v)
	}
	status, body := b.do(t, http.MethodPost, "/webhooks/fal/"+g.ID, header, events[0].body)
	require.Equal(t, http.StatusOK, status, string(body))
	require.JSONEq(t, `{"outcome":"duplicate"}`, string(body))
	require.Equal(t, g, b.awaitTerminal(t, g.ID))
	require.Len(t, b.events(t, g.ID), 2)
	var images int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM generation_images WHERE generation_id = $1`, g.ID).Scan(&images))
	require.Equal(t, 2, images)
}

// A webhook signed with a key fal never published is refused, kept as
// evidence, and changes nothing.
func TestForgedWebhookChangesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)

	// A generation still queued: scheduled an hour ahead, so the worker
	// leaves it alone.
	runAt := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	g := b.enqueue(t, fmt.Sprintf(`{"run_at": %q, "image_prompt_1": {"image_url": "https://example.com/a.png"}}`, runAt))

	_, forger, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	body := []byte(`{"request_id": "forged", "status": "OK", "payload": {"images": [{"url": "https://evil.example/x.png"}], "has_nsfw_concepts": [false], "timings": {}}}`)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sum := sha256.Sum256(body)
	msg := "forged\nuser\n" + ts + "\n" + hex.EncodeToString(sum[:])
	header := http.Header{
		"Content-Type":             {"application/json"},
		"X-Fal-Webhook-Request-Id": {"forged"},
		"X-Fal-Webhook-User-Id":    {"user"},
		"X-Fal-Webhook-Timestamp":  {ts},
		"X-Fal-Webhook-Signature":  {hex.EncodeToString(ed25519.Sign(forger, []byte(msg)))},
	}
	status, resp := b.do(t, http.MethodPost, "/webhooks/fal/"+g.ID, header, body)
	require.Equal(t, http.StatusUnauthorized, status, string(resp))

	status, resp = b.do(t, http.MethodGet, "/v1/generations/"+g.ID, nil, nil)
	require.Equal(t, http.StatusOK, status)
	var got generation
	require.NoError(t, json.Unmarshal(resp, &got))
	require.Equal(t, "queued", got.Status)
	require.Empty(t, got.Images)

	events := b.events(t, g.ID)
	require.Len(t, events, 1)
	require.False(t, events[0].valid)
	require.Equal(t, "bad_signature", events[0].outcome)
}

// The pipeline holds when fal misbehaves: submit errors and rate limits are
// retried, failed requests are recorded as failed, duplicate deliveries
// change nothing, and nothing is paid twice.
func TestGenerationsWithSimulatorFaults(t *testing.T) {
	t.Parallel()
	b := setupWithSimulator(t, &falsim.Config{
		Seed:                 11,
		Latency:              falsim.Latency{Min: time.Millisecond, Max: 20 * time.Millisecond},
		MaxConcurrency:       3,
		SubmitErrorRate:      0.1,
		RateLimitRate:        0.1,
		FailRate:             0.2,
		NSFWRate:             0.3,
		BounceRate:           0.2,
		WebhookDuplicateRate: 0.5,
	})

	const n = 12
	ids := make([]string, n)
	for i := range ids {
		ids[i] = b.enqueue(t, exampleInput).ID
	}
	var completed, failed int
	for _, id := range ids {
		g := b.awaitTerminal(t, id)
		switch g.Status {
		case "completed":
			completed++
			require.Len(t, g.Images, 2, "exactly the requested images, duplicates or not")
		case "failed":
			failed++
			require.Empty(t, g.Images)
		default:
			t.Fatalf("generation %s ended %s", id, g.Status)
		}
	}
	require.Positive(t, completed)
	require.Positive(t, failed, "seed 11 fails some requests")

	// Every accepted request was paid once: the simulator saw no second
	// submission for any webhook URL, and Easel counted one per generation.
	var statusURL string
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT fal_status_url FROM generations LIMIT 1`).Scan(&statusURL))
	u, err := url.Parse(statusURL)
	require.NoError(t, err)
	resp, err := http.Get(u.Scheme + "://" + u.Host + "/_sim/stats")
	require.NoError(t, err)
	defer resp.Body.Close()
	var stats falsim.Stats
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&stats))
	require.Equal(t, n, stats.Submissions, "accepted submissions")
	require.Zero(t, stats.DuplicateSubmissions)
	require.Positive(t, stats.RejectedSubmissions, "seed 11 answers some submits with 5xx or 429, which Easel retried")

	var paid int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT sum(fal_submissions) FROM generations`).Scan(&paid))
	require.Equal(t, n, paid)

	require.Eventually(t, func() bool {
		var duplicates int
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM webhook_events WHERE outcome = 'duplicate'`).Scan(&duplicates))
		return duplicates > 0
	}, 10*time.Second, 20*time.Millisecond, "the simulator's duplicate deliveries were received and recorded as duplicates")
}
