package falsim_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
)

const (
	testKey    = "Key test-id:test-secret"
	validInput = `{"prompt": "a cat", "image_prompt_1": {"image_url": "https://example.com/cat.png"}}`
	// awaitTimeout only stops a broken test from hanging; nothing is timed.
	awaitTimeout = 10 * time.Second
)

type testBundle struct {
	sim     *falsim.Sim
	url     string           // base URL of the simulator
	hookURL string           // base URL of the webhook receiver
	hooks   chan delivery    // webhook attempts, as the receiver got them
	logs    chan slog.Record // the simulator's log records
}

type setupOpts struct {
	// answer is the receiver's status for its attempt-th request (from 1);
	// nil answers 200. It may block until r's context ends.
	answer func(attempt int, r *http.Request) int
	now    func() time.Time
}

type delivery struct {
	header http.Header
	body   []byte
}

func setup(t *testing.T, cfg falsim.Config, opts setupOpts) *testBundle {
	t.Helper()

	b := &testBundle{
		hooks: make(chan delivery, 100),
		logs:  make(chan slog.Record, 1000),
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(recordHandler{b.logs})
	}
	sim, err := falsim.New(cfg)
	require.NoError(t, err)
	if opts.now != nil {
		sim.SetNowForTest(opts.now)
	}
	b.sim = sim

	var attempts atomic.Int64
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		b.hooks <- delivery{header: r.Header.Clone(), body: body}
		status := http.StatusOK
		if opts.answer != nil {
			status = opts.answer(int(attempts.Add(1)), r)
		}
		w.WriteHeader(status)
	}))
	simServer := httptest.NewServer(sim.Handler())
	t.Cleanup(func() {
		sim.Close()
		simServer.Close()
		receiver.Close()
	})
	b.url = simServer.URL
	b.hookURL = receiver.URL
	return b
}

// recordHandler feeds log records to a channel, dropping them when it is full.
type recordHandler struct{ records chan<- slog.Record }

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h recordHandler) WithGroup(string) slog.Handler            { return h }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	select {
	case h.records <- r.Clone():
	default:
	}
	return nil
}

// do sends an authorized request and returns the response with its body read.
func (b *testBundle) do(t *testing.T, method, target, body string) (*http.Response, []byte) {
	t.Helper()
	return doRequest(t, method, target, body, testKey)
}

func doRequest(t *testing.T, method, target, body, authorization string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, target, strings.NewReader(body))
	require.NoError(t, err)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, respBody
}

type submitResponse struct {
	Status           string `json:"status"`
	RequestID        string `json:"request_id"`
	GatewayRequestID string `json:"gateway_request_id"`
	ResponseURL      string `json:"response_url"`
	StatusURL        string `json:"status_url"`
	CancelURL        string `json:"cancel_url"`
	QueuePosition    *int   `json:"queue_position"`
}

// submit posts input to fooocus/image-prompt with query appended and
// requires a 200.
func (b *testBundle) submit(t *testing.T, input, query string) submitResponse {
	t.Helper()
	submitURL := b.url + "/fal-ai/fooocus/image-prompt"
	if query != "" {
		submitURL += "?" + query
	}
	resp, body := b.do(t, http.MethodPost, submitURL, input)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var sr submitResponse
	require.NoError(t, json.Unmarshal(body, &sr))
	return sr
}

// submitWithWebhook submits input with fal_webhook pointing at the receiver.
func (b *testBundle) submitWithWebhook(t *testing.T, input string) submitResponse {
	t.Helper()
	return b.submit(t, input, "fal_webhook="+url.QueryEscape(b.hookURL+"/webhooks/fal/"+uuid.NewString()))
}

type logEntry struct {
	Message   string `json:"message"`
	Level     string `json:"level"`
	Source    string `json:"source"`
	Timestamp string `json:"timestamp"`
}

type statusResponse struct {
	Status        string     `json:"status"`
	RequestID     string     `json:"request_id"`
	QueuePosition *int       `json:"queue_position"`
	ResponseURL   string     `json:"response_url"`
	StatusURL     string     `json:"status_url"`
	CancelURL     string     `json:"cancel_url"`
	Logs          []logEntry `json:"logs"`
	Metrics       *struct {
		InferenceTime float64 `json:"inference_time"`
	} `json:"metrics"`
	Error     string `json:"error"`
	ErrorType string `json:"error_type"`
}

func (b *testBundle) status(t *testing.T, statusURL string) (int, statusResponse) {
	t.Helper()
	resp, body := b.do(t, http.MethodGet, statusURL+"?logs=1", "")
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var st statusResponse
	require.NoError(t, json.Unmarshal(body, &st), string(body))
	return resp.StatusCode, st
}

// stream reads the status stream of a request until the simulator ends it.
func (b *testBundle) stream(t *testing.T, statusURL string) []statusResponse {
	t.Helper()
	resp := b.openStream(t, statusURL)
	defer resp.Body.Close()
	events := newEventReader(resp.Body)
	var all []statusResponse
	for events.more(t) {
		all = append(all, events.event)
	}
	return all
}

func (b *testBundle) openStream(t *testing.T, statusURL string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), awaitTimeout)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, statusURL+"/stream?logs=1", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", testKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	return resp
}

// eventReader reads the status events of a server-sent event stream.
type eventReader struct {
	scanner *bufio.Scanner
	event   statusResponse
}

func newEventReader(r io.Reader) *eventReader { return &eventReader{scanner: bufio.NewScanner(r)} }

// more reads the next event into r.event and reports whether there was one.
func (r *eventReader) more(t *testing.T) bool {
	t.Helper()
	for r.scanner.Scan() {
		data, ok := strings.CutPrefix(r.scanner.Text(), "data: ")
		if !ok {
			continue
		}
		r.event = statusResponse{}
		require.NoError(t, json.Unmarshal([]byte(data), &r.event))
		return true
	}
	require.NoError(t, r.scanner.Err())
	return false
}

func (r *eventReader) next(t *testing.T) statusResponse {
	t.Helper()
	require.True(t, r.more(t), "the stream ended early")
	return r.event
}

// awaitCompleted waits for the request to complete and returns its final status.
func (b *testBundle) awaitCompleted(t *testing.T, statusURL string) statusResponse {
	t.Helper()
	events := b.stream(t, statusURL)
	require.NotEmpty(t, events)
	last := events[len(events)-1]
	require.Equal(t, "COMPLETED", last.Status)
	return last
}

func (b *testBundle) nextDelivery(t *testing.T) delivery {
	t.Helper()
	select {
	case d := <-b.hooks:
		return d
	case <-time.After(awaitTimeout):
		require.FailNow(t, "no webhook delivered")
		return delivery{}
	}
}

func (b *testBundle) awaitLog(t *testing.T, message string) slog.Record {
	t.Helper()
	timeout := time.After(awaitTimeout)
	for {
		select {
		case r := <-b.logs:
			if r.Message == message {
				return r
			}
		case <-timeout:
			require.FailNow(t, "no log record", message)
		}
	}
}

type image struct {
	URL         string `json:"url"`
	ContentType string `json:"content_type"`
	FileName    string `json:"file_name"`
	FileSize    int    `json:"file_size"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
}

type output struct {
	Images          []image            `json:"images"`
	Timings         map[string]float64 `json:"timings"`
	HasNSFWConcepts []bool             `json:"has_nsfw_concepts"`
}

// result fetches a completed request's output, requiring a 200.
func (b *testBundle) result(t *testing.T, responseURL string) output {
	t.Helper()
	resp, body := b.do(t, http.MethodGet, responseURL, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var out output
	require.NoError(t, json.Unmarshal(body, &out))
	return out
}

type webhookBody struct {
	RequestID        string          `json:"request_id"`
	GatewayRequestID string          `json:"gateway_request_id"`
	Status           string          `json:"status"`
	Payload          json.RawMessage `json:"payload"`
	Error            *string         `json:"error"`
	PayloadError     *string         `json:"payload_error"`
}

func decodeWebhook(t *testing.T, d delivery) webhookBody {
	t.Helper()
	var wb webhookBody
	require.NoError(t, json.Unmarshal(d.body, &wb))
	return wb
}

// verifyDelivery checks a webhook's signature the way a receiver must,
// written from fal's documentation rather than the simulator's code: the key
// comes from the served JWKS, the message is four lines.
func verifyDelivery(t *testing.T, jwksURL string, d delivery) {
	t.Helper()
	resp, body := doRequest(t, http.MethodGet, jwksURL, "", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var jwks struct {
		Keys []struct {
			Kty string `json:"kty"`
			Crv string `json:"crv"`
			X   string `json:"x"`
		} `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(body, &jwks))
	require.Len(t, jwks.Keys, 1)
	require.Equal(t, "OKP", jwks.Keys[0].Kty)
	require.Equal(t, "Ed25519", jwks.Keys[0].Crv)
	pub, err := base64.RawURLEncoding.DecodeString(jwks.Keys[0].X)
	require.NoError(t, err)
	require.Len(t, pub, ed25519.PublicKeySize)

	h := d.header
	for _, name := range []string{"X-Fal-Webhook-Request-Id", "X-Fal-Webhook-User-Id", "X-Fal-Webhook-Timestamp", "X-Fal-Webhook-Signature"} {
		require.NotEmpty(t, h.Get(name), name)
	}
	sum := sha256.Sum256(d.body)
	msg := h.Get("X-Fal-Webhook-Request-Id") + "\n" + h.Get("X-Fal-Webhook-User-Id") + "\n" +
		h.Get("X-Fal-Webhook-Timestamp") + "\n" + hex.EncodeToString(sum[:])
	sig, err := hex.DecodeString(h.Get("X-Fal-Webhook-Signature"))
	require.NoError(t, err)
	require.Len(t, sig, ed25519.SignatureSize)
	require.True(t, ed25519.Verify(pub, []byte(msg), sig), "signature does not verify")
}
