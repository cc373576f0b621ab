package falsim_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
)

// holdLatency keeps requests IN_PROGRESS for the whole test.
var holdLatency = falsim.Latency{Min: time.Hour, Max: time.Hour}

func TestQueueRequiresKey(t *testing.T) {
	t.Parallel()

	b := setup(t, falsim.Config{Latency: holdLatency}, setupOpts{})
	sr := b.submit(t, validInput, "")

	routes := []struct{ name, method, url string }{
		{"submit", http.MethodPost, b.url + "/fal-ai/fooocus/image-prompt"},
		{"status", http.MethodGet, sr.StatusURL},
		{"stream", http.MethodGet, sr.StatusURL + "/stream"},
		{"result", http.MethodGet, sr.ResponseURL},
		{"cancel", http.MethodPut, sr.CancelURL},
	}
	for _, authorization := range []string{"", "Bearer abc", "Key ", "key abc"} {
		for _, route := range routes {
			t.Run(fmt.Sprintf("%s with %q", route.name, authorization), func(t *testing.T) {
				t.Parallel()
				resp, body := doRequest(t, route.method, route.url, validInput, authorization)
				require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
				require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
				require.JSONEq(t, `{"detail": "No user found for Key ID and Secret"}`, string(body))
			})
		}
	}
}

func TestSubmitResponse(t *testing.T) {
	t.Parallel()

	b := setup(t, falsim.Config{Latency: holdLatency}, setupOpts{})
	resp, body := b.do(t, http.MethodPost, b.url+"/fal-ai/fooocus/image-prompt", validInput)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))

	var fields map[string]any
	require.NoError(t, json.Unmarshal(body, &fields))
	require.ElementsMatch(t,
		[]string{"status", "request_id", "gateway_request_id", "response_url", "status_url", "cancel_url", "queue_position"},
		keys(fields))

	var sr submitResponse
	require.NoError(t, json.Unmarshal(body, &sr))
	_, err := uuid.Parse(sr.RequestID)
	require.NoError(t, err)
	require.Equal(t, sr.RequestID, resp.Header.Get("x-fal-request-id"))
	require.Equal(t, sr.RequestID, sr.GatewayRequestID)
	require.Equal(t, "IN_QUEUE", sr.Status)
	require.Equal(t, 0, *sr.QueuePosition)
	// Status, result and cancel use owner/app only, on the address the client used.
	base := b.url + "/fal-ai/fooocus/requests/" + sr.RequestID
	require.Equal(t, base, sr.ResponseURL)
	require.Equal(t, base+"/status", sr.StatusURL)
	require.Equal(t, base+"/cancel", sr.CancelURL)
}

func TestSubmitRejectsMalformedRequests(t *testing.T) {
	t.Parallel()

	b := setup(t, falsim.Config{}, setupOpts{})
	tests := []struct {
		name, query, body string
		wantStatus        int
		wantType          string
	}{
		{"invalid json", "", `{"prompt": `, http.StatusUnprocessableEntity, "json_invalid"},
		{"not an object", "", `["a"]`, http.StatusUnprocessableEntity, "model_attributes_type"},
		{"relative webhook", "fal_webhook=/hook", validInput, http.StatusUnprocessableEntity, "url_parsing"},
		{"non-numeric max queue length", "fal_max_queue_length=many", validInput, http.StatusUnprocessableEntity, "int_parsing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, body := b.do(t, http.MethodPost, b.url+"/fal-ai/fooocus/image-prompt?"+tt.query, tt.body)
			require.Equal(t, tt.wantStatus, resp.StatusCode, string(body))
			var errBody struct {
				Detail []struct {
					Type string `json:"type"`
				} `json:"detail"`
			}
			require.NoError(t, json.Unmarshal(body, &errBody))
			require.Len(t, errBody.Detail, 1)
			require.Equal(t, tt.wantType, errBody.Detail[0].Type)
		})
	}

	t.Run("wrong method", func(t *testing.T) {
		t.Parallel()
		resp, _ := b.do(t, http.MethodGet, b.url+"/fal-ai/fooocus/image-prompt", "")
		require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
		require.Equal(t, http.MethodPost, resp.Header.Get("Allow"))
	})
	require.Zero(t, b.sim.Stats().Submissions)
}

func TestStatusCompleted(t *testing.T) {
	t.Parallel()

	b := setup(t, falsim.Config{Latency: falsim.Latency{Min: 5 * time.Millisecond, Max: 5 * time.Millisecond}}, setupOpts{})
	sr := b.submit(t, validInput, "")
	b.awaitCompleted(t, sr.StatusURL)

	code, st := b.status(t, sr.StatusURL)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "COMPLETED", st.Status)
	require.Equal(t, sr.RequestID, st.RequestID)
	require.Equal(t, sr.ResponseURL, st.ResponseURL)
	require.Equal(t, sr.StatusURL, st.StatusURL)
	require.Equal(t, sr.CancelURL, st.CancelURL)
	require.Nil(t, st.QueuePosition)
	require.Empty(t, st.Error)
	require.Empty(t, st.ErrorType)
	require.NotNil(t, st.Metrics)
	require.InDelta(t, 0.005, st.Metrics.InferenceTime, 1e-9)
	require.NotEmpty(t, st.Logs)
	for _, l := range st.Logs {
		require.NotEmpty(t, l.Message)
		_, err := time.Parse(time.RFC3339Nano, l.Timestamp)
		require.NoError(t, err)
	}

	resp, body := b.do(t, http.MethodGet, sr.StatusURL, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &raw))
	require.JSONEq(t, `null`, string(raw["logs"]), "logs only with ?logs=1")
}

// TestConcurrencyCap holds requests IN_PROGRESS to observe the queue exactly:
// two run, the rest wait with positions, and cancelling moves the queue.
func TestConcurrencyCap(t *testing.T) {
	t.Parallel()

	b := setup(t, falsim.Config{Latency: holdLatency, MaxConcurrency: 2}, setupOpts{})
	var subs []submitResponse
	for range 5 {
		subs = append(subs, b.submit(t, validInput, ""))
	}
	for i, want := range []int{0, 0, 0, 1, 2} {
		require.Equal(t, want, *subs[i].QueuePosition, "submit %d", i)
	}

	requireStates := func(want ...string) {
		t.Helper()
		position := 0
		for i, sr := range subs {
			code, st := b.status(t, sr.StatusURL)
			require.Equal(t, want[i], st.Status, "request %d", i)
			switch st.Status {
			case "IN_QUEUE":
				require.Equal(t, http.StatusAccepted, code)
				require.Equal(t, position, *st.QueuePosition, "request %d", i)
				position++
			case "IN_PROGRESS":
				require.Equal(t, http.StatusAccepted, code)
				require.Nil(t, st.QueuePosition)
				require.Nil(t, st.Metrics)
			case "COMPLETED":
				require.Equal(t, http.StatusOK, code)
			}
		}
	}
	requireStates("IN_PROGRESS", "IN_PROGRESS", "IN_QUEUE", "IN_QUEUE", "IN_QUEUE")
	stats := b.sim.Stats()
	require.Equal(t, 2, stats.InProgress)
	require.Equal(t, 3, stats.InQueue)
	require.Equal(t, 2, stats.MaxInProgress)

	// A running request ends: the head of the queue starts, the rest move up.
	resp, _ := b.do(t, http.MethodPut, subs[0].CancelURL, "")
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	requireStates("COMPLETED", "IN_PROGRESS", "IN_PROGRESS", "IN_QUEUE", "IN_QUEUE")

	// A queued request leaves: the ones behind it move up.
	resp, _ = b.do(t, http.MethodPut, subs[3].CancelURL, "")
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	requireStates("COMPLETED", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED", "IN_QUEUE")
	require.Equal(t, 2, b.sim.Stats().MaxInProgress)
}

func TestConcurrencyCapUnderLoad(t *testing.T) {
	t.Parallel()

	const requests = 12
	b := setup(t, falsim.Config{Latency: falsim.Latency{Min: time.Millisecond, Max: 3 * time.Millisecond}, MaxConcurrency: 3}, setupOpts{})
	for range requests {
		b.submitWithWebhook(t, validInput)
	}
	for range requests {
		require.Equal(t, "OK", decodeWebhook(t, b.nextDelivery(t)).Status)
	}
	stats := b.sim.Stats()
	require.Equal(t, requests, stats.Completed)
	require.Positive(t, stats.MaxInProgress)
	require.LessOrEqual(t, stats.MaxInProgress, 3)
}

func TestStatusStream(t *testing.T) {
	t.Parallel()

	t.Run("until completed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, falsim.Config{Latency: falsim.Latency{Min: time.Millisecond, Max: 20 * time.Millisecond}, MaxConcurrency: 1}, setupOpts{})
		var subs []submitResponse
		for range 3 {
			subs = append(subs, b.submit(t, validInput, ""))
		}
		for _, sr := range subs {
			events := b.stream(t, sr.StatusURL)
			require.NotEmpty(t, events)
			order := map[string]int{"IN_QUEUE": 0, "IN_PROGRESS": 1, "COMPLETED": 2}
			for i, ev := range events {
				require.Equal(t, sr.RequestID, ev.RequestID)
				require.Equal(t, sr.ResponseURL, ev.ResponseURL)
				if i > 0 {
					require.GreaterOrEqual(t, order[ev.Status], order[events[i-1].Status], "events %+v", events)
				}
			}
			require.Equal(t, "COMPLETED", events[len(events)-1].Status)
			require.NotNil(t, events[len(events)-1].Metrics)
		}
	})

	t.Run("each change is an event", func(t *testing.T) {
		t.Parallel()
		b := setup(t, falsim.Config{Latency: holdLatency, MaxConcurrency: 1}, setupOpts{})
		running := b.submit(t, validInput, "")
		queued := b.submit(t, validInput, "")

		resp := b.openStream(t, queued.StatusURL)
		defer resp.Body.Close()
		events := newEventReader(resp.Body)

		ev := events.next(t)
		require.Equal(t, "IN_QUEUE", ev.Status)
		require.Equal(t, 0, *ev.QueuePosition)

		b.do(t, http.MethodPut, running.CancelURL, "")
		ev = events.next(t)
		require.Equal(t, "IN_PROGRESS", ev.Status)
		require.NotEmpty(t, ev.Logs)

		b.do(t, http.MethodPut, queued.CancelURL, "")
		ev = events.next(t)
		require.Equal(t, "COMPLETED", ev.Status)
		require.Equal(t, "client_cancelled", ev.ErrorType)
		require.False(t, events.more(t), "the stream ends at COMPLETED")
	})
}

func TestResult(t *testing.T) {
	t.Parallel()

	t.Run("every URL form", func(t *testing.T) {
		t.Parallel()
		b := setup(t, falsim.Config{}, setupOpts{})
		sr := b.submit(t, validInput, "")
		b.awaitCompleted(t, sr.StatusURL)

		fullIDBase := b.url + "/fal-ai/fooocus/image-prompt/requests/" + sr.RequestID
		var first []byte
		for _, u := range []string{sr.ResponseURL, sr.ResponseURL + "/response", fullIDBase, fullIDBase + "/response"} {
			resp, body := b.do(t, http.MethodGet, u, "")
			require.Equal(t, http.StatusOK, resp.StatusCode, u)
			require.Equal(t, sr.RequestID, resp.Header.Get("x-fal-request-id"), u)
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"), u)
			if first == nil {
				first = body
			}
			require.Equal(t, string(first), string(body), u)
		}
		var out output
		require.NoError(t, json.Unmarshal(first, &out))
		require.Len(t, out.Images, 1)
		require.Equal(t, []bool{false}, out.HasNSFWConcepts)
		require.Contains(t, out.Timings, "inference")
	})

	t.Run("before completion", func(t *testing.T) {
		t.Parallel()
		b := setup(t, falsim.Config{Latency: holdLatency}, setupOpts{})
		sr := b.submit(t, validInput, "")
		resp, body := b.do(t, http.MethodGet, sr.ResponseURL, "")
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.Equal(t, sr.RequestID, resp.Header.Get("x-fal-request-id"))
		require.JSONEq(t, `{"detail": "Request is still in progress"}`, string(body))
	})

	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		b := setup(t, falsim.Config{Latency: holdLatency}, setupOpts{})
		sr := b.submit(t, validInput, "")
		b.do(t, http.MethodPut, sr.CancelURL, "")
		resp, body := b.do(t, http.MethodGet, sr.ResponseURL, "")
		require.Equal(t, 499, resp.StatusCode)
		require.Equal(t, "client_cancelled", resp.Header.Get("X-Fal-Error-Type"))
		require.JSONEq(t, `{"detail": "Request cancelled by client", "error_type": "client_cancelled"}`, string(body))
	})

	t.Run("other app", func(t *testing.T) {
		t.Parallel()
		b := setup(t, falsim.Config{}, setupOpts{})
		sr := b.submit(t, validInput, "")
		resp, _ := b.do(t, http.MethodGet, b.url+"/fal-ai/flux/requests/"+sr.RequestID, "")
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
	})
}

func TestCancel(t *testing.T) {
	t.Parallel()

	b := setup(t, falsim.Config{Latency: holdLatency, MaxConcurrency: 1}, setupOpts{})
	running := b.submit(t, validInput, "")
	queued := b.submit(t, validInput, "")

	tests := []struct {
		name       string
		url        string
		wantStatus int
		wantBody   string
	}{
		{"queued", queued.CancelURL, http.StatusAccepted, `{"status": "CANCELLATION_REQUESTED"}`},
		{"running", running.CancelURL, http.StatusAccepted, `{"status": "CANCELLATION_REQUESTED"}`},
		{"already completed", running.CancelURL, http.StatusBadRequest, `{"status": "ALREADY_COMPLETED"}`},
		{"unknown", b.url + "/fal-ai/fooocus/requests/" + uuid.NewString() + "/cancel", http.StatusNotFound, `{"status": "NOT_FOUND", "detail": "Request not found"}`},
	}
	// Sequential: each case depends on the previous ones.
	for _, tt := range tests {
		resp, body := b.do(t, http.MethodPut, tt.url, "")
		require.Equal(t, tt.wantStatus, resp.StatusCode, tt.name)
		require.JSONEq(t, tt.wantBody, string(body), tt.name)
	}

	for _, sr := range []submitResponse{running, queued} {
		code, st := b.status(t, sr.StatusURL)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "COMPLETED", st.Status)
		require.Equal(t, "Invalid status code: 499", st.Error)
		require.Equal(t, "client_cancelled", st.ErrorType)
	}
	stats := b.sim.Stats()
	require.Zero(t, stats.InProgress)
	require.Zero(t, stats.InQueue)
	require.Zero(t, stats.Completed, "a cancelled request did not run to completion")
	require.Equal(t, 2, stats.Cancelled)
}

func TestUnknownRequest(t *testing.T) {
	t.Parallel()

	b := setup(t, falsim.Config{}, setupOpts{})
	base := b.url + "/fal-ai/fooocus/requests/" + uuid.NewString()
	for _, route := range []struct{ method, url string }{
		{http.MethodGet, base + "/status"},
		{http.MethodGet, base + "/status/stream"},
		{http.MethodGet, base},
		{http.MethodGet, base + "/response"},
		{http.MethodPut, base + "/cancel"},
	} {
		resp, body := b.do(t, route.method, route.url, "")
		require.Equal(t, http.StatusNotFound, resp.StatusCode, route.url)
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		require.JSONEq(t, `{"status": "NOT_FOUND", "detail": "Request not found"}`, string(body))
	}
}

func TestMaxQueueLength(t *testing.T) {
	t.Parallel()

	b := setup(t, falsim.Config{Latency: holdLatency, MaxConcurrency: 1}, setupOpts{})
	requireRejected := func(query string) {
		t.Helper()
		resp, body := b.do(t, http.MethodPost, b.url+"/fal-ai/fooocus/image-prompt?"+query, validInput)
		require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		require.Contains(t, string(body), `"detail"`)
		require.Empty(t, resp.Header.Get("x-fal-request-id"))
	}

	b.submit(t, validInput, "fal_max_queue_length=0") // nothing waits: runs
	b.submit(t, validInput, "fal_max_queue_length=0") // nothing waits: queued
	requireRejected("fal_max_queue_length=0")         // one waits
	b.submit(t, validInput, "fal_max_queue_length=1") // one waits: queued
	requireRejected("fal_max_queue_length=1")         // two wait
	b.submit(t, validInput, "")                       // unbounded without the parameter

	stats := b.sim.Stats()
	require.Equal(t, 4, stats.Submissions)
	require.Equal(t, 2, stats.RejectedSubmissions)
	require.Equal(t, 3, stats.InQueue)
}

func TestSubmitFaults(t *testing.T) {
	t.Parallel()

	t.Run("server errors", func(t *testing.T) {
		t.Parallel()
		b := setup(t, falsim.Config{SubmitErrorRate: 1}, setupOpts{})
		for range 8 {
			resp, body := b.do(t, http.MethodPost, b.url+"/fal-ai/fooocus/image-prompt", validInput)
			require.GreaterOrEqual(t, resp.StatusCode, 500)
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			require.Empty(t, resp.Header.Get("x-fal-request-id"), "nothing was queued")
			require.Contains(t, string(body), `"detail"`)
		}
		require.Equal(t, falsim.Stats{RejectedSubmissions: 8}, b.sim.Stats())
	})

	t.Run("rate limited", func(t *testing.T) {
		t.Parallel()
		b := setup(t, falsim.Config{RateLimitRate: 1}, setupOpts{})
		resp, _ := b.do(t, http.MethodPost, b.url+"/fal-ai/fooocus/image-prompt", validInput)
		require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
		require.Equal(t, "1", resp.Header.Get("Retry-After"))
		require.Equal(t, falsim.Stats{RejectedSubmissions: 1}, b.sim.Stats())
	})
}

func TestModelError(t *testing.T) {
	t.Parallel()

	b := setup(t, falsim.Config{}, setupOpts{})
	sr := b.submitWithWebhook(t, `{"prompt": "no image prompt"}`)
	st := b.awaitCompleted(t, sr.StatusURL)
	require.Equal(t, "Invalid status code: 422", st.Error)
	require.Equal(t, "missing", st.ErrorType)

	wantDetail := `{"detail": [{"loc": ["body", "image_prompt_1"], "msg": "Field required", "type": "missing", "url": "https://docs.fal.ai/errors/#missing"}]}`
	resp, body := b.do(t, http.MethodGet, sr.ResponseURL, "")
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.JSONEq(t, wantDetail, string(body))

	wb := decodeWebhook(t, b.nextDelivery(t))
	require.Equal(t, "ERROR", wb.Status)
	require.Equal(t, "Invalid status code: 422", *wb.Error)
	require.JSONEq(t, wantDetail, string(wb.Payload))
}

func TestFailRate(t *testing.T) {
	t.Parallel()

	b := setup(t, falsim.Config{FailRate: 1}, setupOpts{})
	for range 5 {
		sr := b.submit(t, validInput, "")
		st := b.awaitCompleted(t, sr.StatusURL)
		require.Equal(t, "Invalid status code: 422", st.Error)
		require.NotEmpty(t, st.ErrorType)

		resp, body := b.do(t, http.MethodGet, sr.ResponseURL, "")
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		var errBody struct {
			Detail []struct {
				Loc  []string `json:"loc"`
				Msg  string   `json:"msg"`
				Type string   `json:"type"`
				URL  string   `json:"url"`
			} `json:"detail"`
		}
		require.NoError(t, json.Unmarshal(body, &errBody))
		require.Len(t, errBody.Detail, 1)
		d := errBody.Detail[0]
		require.Equal(t, st.ErrorType, d.Type)
		require.Equal(t, "body", d.Loc[0])
		require.NotEmpty(t, d.Msg)
		require.Equal(t, "https://docs.fal.ai/errors/#"+d.Type, d.URL)
	}
}

func TestBounce(t *testing.T) {
	t.Parallel()

	b := setup(t, falsim.Config{BounceRate: 1, Latency: falsim.Latency{Min: 2 * time.Millisecond, Max: 2 * time.Millisecond}}, setupOpts{})
	sr := b.submitWithWebhook(t, validInput)
	st := b.awaitCompleted(t, sr.StatusURL)
	require.Empty(t, st.Error)

	var messages []string
	for _, l := range st.Logs {
		messages = append(messages, l.Message)
	}
	require.Equal(t, []string{"Starting image generation", "Runner disconnected; request re-queued", "Starting image generation", "Generation finished"}, messages)

	wb := decodeWebhook(t, b.nextDelivery(t))
	require.Equal(t, sr.RequestID, wb.RequestID)
	require.NotEqual(t, wb.RequestID, wb.GatewayRequestID, "a retried run has its own gateway request id")
}

func TestStats(t *testing.T) {
	t.Parallel()

	b := setup(t, falsim.Config{}, setupOpts{})
	hook := "fal_webhook=" + b.hookURL + "/webhooks/fal/one"
	first := b.submit(t, validInput, hook)
	b.awaitCompleted(t, first.StatusURL)
	b.nextDelivery(t)
	b.awaitLog(t, "webhook delivered")
	b.submit(t, validInput, hook) // a second submit of the same generation
	b.nextDelivery(t)
	b.awaitLog(t, "webhook delivered")
	b.submit(t, validInput, "")

	resp, body := b.do(t, http.MethodGet, b.url+"/_sim/stats", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var got map[string]int
	require.NoError(t, json.Unmarshal(body, &got))
	for _, key := range []string{"submissions", "duplicate_submissions", "max_in_progress", "completed", "cancelled", "webhooks_sent", "webhooks_acked", "webhooks_failed", "webhooks_dropped"} {
		require.Contains(t, got, key)
	}
	require.Equal(t, 3, got["submissions"])
	require.Equal(t, 1, got["duplicate_submissions"])
	require.Equal(t, 2, got["webhooks_sent"])
	require.Equal(t, 2, got["webhooks_acked"])
	require.Zero(t, got["webhooks_failed"])
	require.Zero(t, got["webhooks_dropped"])

	var st falsim.Stats
	require.NoError(t, json.Unmarshal(body, &st))
	require.Equal(t, b.sim.Stats(), st)
}

func TestDeterministicUnderSeed(t *testing.T) {
	t.Parallel()

	cfg := falsim.Config{
		Latency:          falsim.Latency{Min: 0, Max: 3 * time.Millisecond},
		SubmitErrorRate:  0.2,
		RateLimitRate:    0.2,
		FailRate:         0.3,
		PayloadErrorRate: 0.3,
		NSFWRate:         0.5,
		WebhookDropRate:  0.3,
	}
	run := func(seed int64) []string {
		cfg := cfg
		cfg.Seed = seed
		b := setup(t, cfg, setupOpts{})
		var trace []string
		for range 15 {
			resp, body := b.do(t, http.MethodPost, b.url+"/fal-ai/fooocus/image-prompt?fal_webhook="+url.QueryEscape(b.hookURL), `{"image_prompt_1": {}, "num_images": 2}`)
			if resp.StatusCode != http.StatusOK {
				trace = append(trace, fmt.Sprint("rejected ", resp.StatusCode))
				continue
			}
			var sr submitResponse
			require.NoError(t, json.Unmarshal(body, &sr))
			st := b.awaitCompleted(t, sr.StatusURL)
			entry := fmt.Sprintf("inference=%v error=%q", st.Metrics.InferenceTime, st.ErrorType)
			if st.Error == "" {
				entry += fmt.Sprint(" nsfw=", b.result(t, sr.ResponseURL).HasNSFWConcepts)
			}
			trace = append(trace, entry)
		}
		stats := b.sim.Stats()
		return append(trace, fmt.Sprintf("submissions=%d rejected=%d completed=%d dropped=%d",
			stats.Submissions, stats.RejectedSubmissions, stats.Completed, stats.WebhooksDropped))
	}

	first := run(42)
	require.Equal(t, first, run(42))
	require.NotEqual(t, first, run(43))
	joined := strings.Join(first, "\n")
	for _, fault := range []string{"rejected", "nsfw=[true", `error=""`, `error="`} {
		require.Contains(t, joined, fault, "the seed should exercise every fault")
	}
	require.NotContains(t, joined, "dropped=0", "the seed should exercise every fault")
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
