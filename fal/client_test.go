package fal

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

const testFalKey = "key-id-1234:key-secret-5678"

// recordedRequest is what the test server saw.
type recordedRequest struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
}

type clientTestBundle struct {
	client   *Client
	requests chan recordedRequest
	server   *httptest.Server
}

// setupClient starts a server that records each request and answers with
// respond, and a client for it.
func setupClient(t *testing.T, respond http.HandlerFunc) *clientTestBundle {
	t.Helper()

	requests := make(chan recordedRequest, 10)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read request body: %v", err)
		}
		requests <- recordedRequest{
			Method:   r.Method,
			Path:     r.URL.EscapedPath(),
			RawQuery: r.URL.RawQuery,
			Header:   r.Header.Clone(),
			Body:     body,
		}
		respond(w, r)
	}))
	t.Cleanup(server.Close)

	return &clientTestBundle{
		client:   NewClient(ClientConfig{QueueURL: server.URL, Key: testFalKey, HTTPClient: server.Client()}),
		requests: requests,
		server:   server,
	}
}

// respondJSON answers with status and body as JSON, plus header pairs.
func respondJSON(status int, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func (b *clientTestBundle) lastRequest(t *testing.T) recordedRequest {
	t.Helper()
	select {
	case req := <-b.requests:
		return req
	default:
		require.FailNow(t, "server got no request")
		return recordedRequest{}
	}
}

func TestClientSubmit(t *testing.T) {
	t.Parallel()

	bundle := setupClient(t, respondJSON(http.StatusOK, `{
		"request_id": "764cabcf-b745-4b3e-ae38-1200304cf45b",
		"gateway_request_id": "864cabcf-b745-4b3e-ae38-1200304cf45b",
		"response_url": "https://queue.fal.run/fal-ai/fooocus/requests/764cabcf-b745-4b3e-ae38-1200304cf45b",
		"status_url": "https://queue.fal.run/fal-ai/fooocus/requests/764cabcf-b745-4b3e-ae38-1200304cf45b/status",
		"cancel_url": "https://queue.fal.run/fal-ai/fooocus/requests/764cabcf-b745-4b3e-ae38-1200304cf45b/cancel",
		"queue_position": 3,
		"status": "IN_QUEUE"}`))
	input := json.RawMessage(`{"prompt": "a cat",  "seed": 17454220438242315174}`)
	webhook := "https://easel.example/webhooks/fal/0b0e?note=a b&x=1"

	resp, err := bundle.client.Submit(context.Background(), SubmitRequest{
		EndpointID: EndpointImagePrompt,
		Input:      input,
		WebhookURL: webhook,
		Priority:   PriorityLow,
	})
	require.NoError(t, err)
	require.Equal(t, &QueueResponse{
		RequestID:        "764cabcf-b745-4b3e-ae38-1200304cf45b",
		GatewayRequestID: "864cabcf-b745-4b3e-ae38-1200304cf45b",
		ResponseURL:      "https://queue.fal.run/fal-ai/fooocus/requests/764cabcf-b745-4b3e-ae38-1200304cf45b",
		StatusURL:        "https://queue.fal.run/fal-ai/fooocus/requests/764cabcf-b745-4b3e-ae38-1200304cf45b/status",
		CancelURL:        "https://queue.fal.run/fal-ai/fooocus/requests/764cabcf-b745-4b3e-ae38-1200304cf45b/cancel",
		QueuePosition:    new(3),
	}, resp)

	req := bundle.lastRequest(t)
	require.Equal(t, http.MethodPost, req.Method)
	require.Equal(t, "/fal-ai/fooocus/image-prompt", req.Path)
	require.Equal(t, "fal_webhook="+url.QueryEscape(webhook), req.RawQuery)
	require.Equal(t, "Key "+testFalKey, req.Header.Get("Authorization"))
	require.Equal(t, "low", req.Header.Get("X-Fal-Queue-Priority"))
	require.Equal(t, "application/json", req.Header.Get("Content-Type"))
	require.Equal(t, []byte(input), req.Body)
}

func TestClientSubmitMinimal(t *testing.T) {
	t.Parallel()

	bundle := setupClient(t, respondJSON(http.StatusOK, `{"request_id":"req/1"}`))
	// A trailing slash on the queue URL must not double up.
	client := NewClient(ClientConfig{QueueURL: bundle.server.URL + "/", Key: testFalKey, HTTPClient: bundle.server.Client()})

	resp, err := client.Submit(context.Background(), SubmitRequest{
		EndpointID: EndpointImagePrompt,
		Input:      json.RawMessage(`{}`),
	})
	require.NoError(t, err)
	status, response, cancel := client.RequestURLs(EndpointImagePrompt, "req/1")
	require.Equal(t, &QueueResponse{RequestID: "req/1", StatusURL: status, ResponseURL: response, CancelURL: cancel}, resp)

	req := bundle.lastRequest(t)
	require.Equal(t, "/fal-ai/fooocus/image-prompt", req.Path)
	require.Empty(t, req.RawQuery)
	require.NotContains(t, req.Header, "X-Fal-Queue-Priority")
}

func TestClientSubmitRejectsInvalidRequest(t *testing.T) {
	t.Parallel()

	valid := SubmitRequest{EndpointID: EndpointImagePrompt, Input: json.RawMessage(`{}`)}
	tests := []struct {
		name   string
		modify func(r *SubmitRequest)
	}{
		{name: "NoEndpoint", modify: func(r *SubmitRequest) { r.EndpointID = "" }},
		{name: "EndpointWithoutApp", modify: func(r *SubmitRequest) { r.EndpointID = "fal-ai" }},
		{name: "EndpointLeadingSlash", modify: func(r *SubmitRequest) { r.EndpointID = "/fal-ai/fooocus" }},
		{name: "EndpointDotDot", modify: func(r *SubmitRequest) { r.EndpointID = "fal-ai/../admin" }},
		{name: "NoInput", modify: func(r *SubmitRequest) { r.Input = nil }},
		{name: "InputNotJSON", modify: func(r *SubmitRequest) { r.Input = json.RawMessage(`{"prompt":`) }},
		{name: "WebhookNotAbsolute", modify: func(r *SubmitRequest) { r.WebhookURL = "/webhooks/fal/1" }},
		{name: "UnknownPriority", modify: func(r *SubmitRequest) { r.Priority = "high" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			bundle := setupClient(t, respondJSON(http.StatusOK, `{"request_id":"r"}`))
			req := valid
			tt.modify(&req)
			_, err := bundle.client.Submit(context.Background(), req)
			require.ErrorIs(t, err, ErrInvalidRequest)
			require.Empty(t, bundle.requests)
		})
	}
}

func TestClientSubmitBadResponse(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name    string
		body    string
		wantErr string
	}{
		{name: "NotJSON", body: `<html>`, wantErr: "fal submit: decode response"},
		{name: "NoRequestID", body: `{"status":"IN_QUEUE"}`, wantErr: "fal submit: response has no request_id"},
		{name: "EmptyRequestID", body: `{"request_id":"","queue_position":0}`, wantErr: "fal submit: response has no request_id"},
		{name: "NullRequestID", body: `{"request_id":null}`, wantErr: "fal submit: response has no request_id"},
		{name: "RequestIDNotAString", body: `{"request_id":42}`, wantErr: "fal submit: response's request_id is not a string"},
		{name: "RequestIDWithNUL", body: `{"request_id":"r\u0000"}`, wantErr: "fal submit: response's request_id contains the NUL character"},
		{name: "Array", body: `[{"request_id":"r1"}]`, wantErr: "fal submit: decode response"},
		{name: "Truncated", body: `{"request_id":"r1"`, wantErr: "fal submit: decode response"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			bundle := setupClient(t, respondJSON(http.StatusOK, tt.body))
			_, err := bundle.client.Submit(context.Background(), SubmitRequest{EndpointID: EndpointImagePrompt, Input: json.RawMessage(`{}`)})
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

// A submit answer fal accepted is read whatever its informational fields
// hold: the request id and the URLs are read on their own, and a queue
// position that is not a non-negative integer (2.0 is one) is dropped. An
// answer lost over such a field would leave a request fal bills for
// without its id, and a second submission paid for.
func TestClientSubmitToleratesInformationalFields(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name         string
		body         string
		wantPosition *int // nil: none, not 0
		wantGateway  string
		wantStatus   string // "" for the URL built from the request id
	}{
		{name: "float queue position 0.0", body: `{"request_id":"r1","queue_position":0.0}`, wantPosition: new(0)},
		{name: "integral float queue position", body: `{"request_id":"r1","queue_position":2.0}`, wantPosition: new(2)},
		{name: "exponent queue position", body: `{"request_id":"r1","queue_position":3e0}`, wantPosition: new(3)},
		{name: "fractional queue position", body: `{"request_id":"r1","queue_position":2.5}`},
		{name: "negative queue position", body: `{"request_id":"r1","queue_position":-1}`},
		{name: "huge queue position", body: `{"request_id":"r1","queue_position":1e400}`},
		{name: "string queue position", body: `{"request_id":"r1","queue_position":"3"}`},
		{name: "object queue position", body: `{"request_id":"r1","queue_position":{"ahead":3}}`},
		{name: "URLs of other kinds", body: `{"request_id":"r1","status_url":123,"response_url":null,"cancel_url":{"u":"x"}}`},
		{name: "gateway id a number", body: `{"request_id":"r1","gateway_request_id":7,"status_url":"https://q/s"}`, wantStatus: "https://q/s"},
		{name: "status and unknown fields", body: `{"request_id":"r1","gateway_request_id":"g1","status":{"x":1},"logs":5,"queue_position":1}`,
			wantGateway: "g1", wantPosition: new(1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			bundle := setupClient(t, respondJSON(http.StatusOK, tt.body))
			resp, err := bundle.client.Submit(context.Background(), SubmitRequest{EndpointID: EndpointImagePrompt, Input: json.RawMessage(`{}`)})
			require.NoError(t, err)
			status, response, cancel := bundle.client.RequestURLs(EndpointImagePrompt, "r1")
			require.Equal(t, &QueueResponse{RequestID: "r1", GatewayRequestID: tt.wantGateway, QueuePosition: tt.wantPosition,
				StatusURL: cmpOr(tt.wantStatus, status), ResponseURL: response, CancelURL: cancel}, resp)
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestClientTransportError(t *testing.T) {
	t.Parallel()

	bundle := setupClient(t, respondJSON(http.StatusOK, `{}`))
	bundle.server.Close()

	_, err := bundle.client.Submit(context.Background(), SubmitRequest{EndpointID: EndpointImagePrompt, Input: json.RawMessage(`{}`)})
	require.Error(t, err)
	var apiErr *APIError
	require.False(t, errors.As(err, &apiErr))
	require.NotErrorIs(t, err, ErrInvalidRequest)
	require.NotContains(t, err.Error(), testFalKey)
}

func TestClientInvalidQueueURL(t *testing.T) {
	t.Parallel()

	client := NewClient(ClientConfig{QueueURL: "queue.fal.run", Key: testFalKey})
	_, err := client.Submit(context.Background(), SubmitRequest{EndpointID: EndpointImagePrompt, Input: json.RawMessage(`{}`)})
	require.ErrorIs(t, err, ErrInvalidRequest)
	_, err = client.Status(context.Background(), "https://queue.fal.run/fal-ai/fooocus/requests/r/status")
	require.ErrorIs(t, err, ErrInvalidRequest)
}

func TestClientStatus(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		status int
		body   string
		want   *Status
	}{
		{
			name:   "InQueue",
			status: http.StatusAccepted,
			body: `{"status":"IN_QUEUE","request_id":"r1","queue_position":2,"response_url":"https://q/r1",
				"status_url":"https://q/r1/status","cancel_url":"https://q/r1/cancel"}`,
			want: &Status{Status: StatusInQueue, RequestID: "r1", QueuePosition: new(2), ResponseURL: "https://q/r1",
				StatusURL: "https://q/r1/status", CancelURL: "https://q/r1/cancel"},
		},
		{
			name:   "InQueueAtFront",
			status: http.StatusAccepted,
			body:   `{"status":"IN_QUEUE","request_id":"r1","queue_position":0}`,
			want:   &Status{Status: StatusInQueue, RequestID: "r1", QueuePosition: new(0)},
		},
		{
			name:   "InProgress",
			status: http.StatusAccepted,
			body: `{"status":"IN_PROGRESS","request_id":"r1","response_url":"https://q/r1",
				"logs":[{"message":"Generating...","timestamp":"2026-02-17T10:30:02.456Z","level":"INFO","source":"USER"}]}`,
			want: &Status{Status: StatusInProgress, RequestID: "r1", ResponseURL: "https://q/r1",
				Logs: []LogLine{{Message: "Generating...", Timestamp: "2026-02-17T10:30:02.456Z", Level: "INFO", Source: "USER"}}},
		},
		{
			name:   "Completed",
			status: http.StatusOK,
			body:   `{"status":"COMPLETED","request_id":"r1","response_url":"https://q/r1","logs":[],"metrics":{"inference_time":3.42}}`,
			want: &Status{Status: StatusCompleted, RequestID: "r1", ResponseURL: "https://q/r1", Logs: []LogLine{},
				InferenceTime: new(3.42)},
		},
		{
			name:   "FloatQueuePosition",
			status: http.StatusAccepted,
			body:   `{"status":"IN_QUEUE","request_id":"r1","queue_position":2.0}`,
			want:   &Status{Status: StatusInQueue, RequestID: "r1", QueuePosition: new(2)},
		},
		{
			name:   "FractionalQueuePositionDropped",
			status: http.StatusAccepted,
			body:   `{"status":"IN_QUEUE","request_id":"r1","queue_position":2.5}`,
			want:   &Status{Status: StatusInQueue, RequestID: "r1"},
		},
		{
			name:   "StringQueuePositionDropped",
			status: http.StatusAccepted,
			body:   `{"status":"IN_QUEUE","request_id":"r1","queue_position":"2"}`,
			want:   &Status{Status: StatusInQueue, RequestID: "r1"},
		},
		{
			name:   "NumericLogTimestamp",
			status: http.StatusAccepted,
			body: `{"status":"IN_PROGRESS","request_id":"r1","logs":[{"message":"Generating...","timestamp":1739788202.456},` +
				`{"message":"step","timestamp":{"s":1}},{"message":7,"level":"INFO"},"text",null]}`,
			want: &Status{Status: StatusInProgress, RequestID: "r1", Logs: []LogLine{
				{Message: "Generating...", Timestamp: "1739788202.456"}, {Message: "step"}, {Level: "INFO"}}},
		},
		{
			name:   "LogsNotAnArray",
			status: http.StatusAccepted,
			body:   `{"status":"IN_PROGRESS","request_id":"r1","logs":{"message":"x"}}`,
			want:   &Status{Status: StatusInProgress, RequestID: "r1"},
		},
		{
			name:   "URLsAndMetricsOfOtherKinds",
			status: http.StatusOK,
			body:   `{"status":"COMPLETED","request_id":7,"response_url":["x"],"status_url":1,"metrics":{"inference_time":"3.4"}}`,
			want:   &Status{Status: StatusCompleted},
		},
		{
			name:   "MetricsNotAnObject",
			status: http.StatusOK,
			body:   `{"status":"COMPLETED","request_id":"r1","metrics":[3.42]}`,
			want:   &Status{Status: StatusCompleted, RequestID: "r1"},
		},
		{
			name:   "ObjectError",
			status: http.StatusOK,
			body: `{"status":"COMPLETED","request_id":"r1","error": {"detail": "Request timed out"},` +
				`"error_type":"request_timeout"}`,
			want: &Status{Status: StatusCompleted, RequestID: "r1", Error: `{"detail":"Request timed out"}`, ErrorType: "request_timeout"},
		},
		{
			name:   "NullError",
			status: http.StatusOK,
			body:   `{"status":"COMPLETED","request_id":"r1","error":null,"error_type":null}`,
			want:   &Status{Status: StatusCompleted, RequestID: "r1"},
		},
		{
			// Each says there is no error: the request must not fail over it.
			name:   "ErrorsOfNoValue",
			status: http.StatusOK,
			body:   `{"status":"COMPLETED","request_id":"r1","error":false,"error_type":[ ]}`,
			want:   &Status{Status: StatusCompleted, RequestID: "r1"},
		},
		{
			name:   "EmptyObjectError",
			status: http.StatusOK,
			body:   `{"status":"COMPLETED","request_id":"r1","error":{ },"error_type":""}`,
			want:   &Status{Status: StatusCompleted, RequestID: "r1"},
		},
		{
			name:   "EmptyStringError",
			status: http.StatusOK,
			body:   `{"status":"COMPLETED","request_id":"r1","error":"","error_type":{}}`,
			want:   &Status{Status: StatusCompleted, RequestID: "r1"},
		},
		{
			name:   "CompletedWithError",
			status: http.StatusOK,
			body: `{"status":"COMPLETED","request_id":"r1","response_url":"https://q/r1",
				"error":"Request timed out","error_type":"request_timeout"}`,
			want: &Status{Status: StatusCompleted, RequestID: "r1", ResponseURL: "https://q/r1",
				Error: "Request timed out", ErrorType: "request_timeout"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			bundle := setupClient(t, respondJSON(tt.status, tt.body))
			status, err := bundle.client.Status(context.Background(), bundle.server.URL+"/fal-ai/fooocus/requests/r1/status")
			require.NoError(t, err)
			require.Equal(t, tt.want, status)

			req := bundle.lastRequest(t)
			require.Equal(t, http.MethodGet, req.Method)
			require.Equal(t, "/fal-ai/fooocus/requests/r1/status", req.Path)
			require.Equal(t, "logs=1", req.RawQuery)
			require.Equal(t, "Key "+testFalKey, req.Header.Get("Authorization"))
		})
	}
}

func TestClientStatusErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		status     int
		body       string
		wantStatus int // of the *APIError; 0 for other errors
		wantErr    string
	}{
		{name: "NotFound", status: http.StatusNotFound, body: `{"status":"NOT_FOUND"}`, wantStatus: 404, wantErr: "fal status: HTTP 404"},
		{name: "Unauthorized", status: http.StatusUnauthorized, body: `{"detail":"No user found for Key ID and Secret"}`,
			wantStatus: 401, wantErr: "fal status: HTTP 401: No user found for Key ID and Secret"},
		{name: "NoStatus", status: http.StatusOK, body: `{"request_id":"r1"}`, wantErr: "fal status: response has no status"},
		{name: "NotJSON", status: http.StatusOK, body: `OK`, wantErr: "fal status: decode response"},
		{name: "StatusNotAString", status: http.StatusOK, body: `{"status":1,"request_id":"r1"}`, wantErr: "fal status: response has no status"},
		{name: "Null", status: http.StatusOK, body: `null`, wantErr: "fal status: decode response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			bundle := setupClient(t, respondJSON(tt.status, tt.body))
			_, err := bundle.client.Status(context.Background(), bundle.server.URL+"/fal-ai/fooocus/requests/r1/status")
			require.ErrorContains(t, err, tt.wantErr)
			var apiErr *APIError
			require.Equal(t, tt.wantStatus != 0, errors.As(err, &apiErr))
			if tt.wantStatus != 0 {
				require.Equal(t, tt.wantStatus, apiErr.StatusCode)
				require.Equal(t, "status", apiErr.Op)
			}
		})
	}
}

func TestClientStatusKeepsQuery(t *testing.T) {
	t.Parallel()

	bundle := setupClient(t, respondJSON(http.StatusAccepted, `{"status":"IN_QUEUE"}`))
	_, err := bundle.client.Status(context.Background(), bundle.server.URL+"/fal-ai/fooocus/requests/r1/status?logs=0&x=y")
	require.NoError(t, err)
	require.Equal(t, "logs=1&x=y", bundle.lastRequest(t).RawQuery)
}

func TestClientResult(t *testing.T) {
	t.Parallel()

	t.Run("Output", func(t *testing.T) {
		t.Parallel()

		output := `{"images": [{"url": "https://v3.fal.media/files/x/a1.jpeg"}], "seed": 17454220438242315174}`
		bundle := setupClient(t, respondJSON(http.StatusOK, output, "X-Fal-Request-Id", "r1"))
		raw, err := bundle.client.Result(context.Background(), bundle.server.URL+"/fal-ai/fooocus/requests/r1")
		require.NoError(t, err)
		require.Equal(t, output, string(raw))

		req := bundle.lastRequest(t)
		require.Equal(t, http.MethodGet, req.Method)
		require.Equal(t, "/fal-ai/fooocus/requests/r1", req.Path)
		require.Equal(t, "Key "+testFalKey, req.Header.Get("Authorization"))
	})

	t.Run("FailedRequest", func(t *testing.T) {
		t.Parallel()

		bundle := setupClient(t, respondJSON(http.StatusUnprocessableEntity,
			`{"detail":[{"loc":["body","num_images"],"msg":"Input should be less than or equal to 4","type":"less_than_equal","ctx":{"le":4},"input":5}]}`))
		_, err := bundle.client.Result(context.Background(), bundle.server.URL+"/fal-ai/fooocus/requests/r1")
		var apiErr *APIError
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, "result", apiErr.Op)
		require.Equal(t, http.StatusUnprocessableEntity, apiErr.StatusCode)
		require.Equal(t, "num_images: Input should be less than or equal to 4", apiErr.Detail)
		require.False(t, apiErr.Retryable())
	})

	// A body that is not JSON is handed back with the error, so that the
	// caller can record the result as unreadable and keep what fal sent.
	t.Run("NotJSON", func(t *testing.T) {
		t.Parallel()

		bundle := setupClient(t, respondJSON(http.StatusOK, `<html>`))
		raw, err := bundle.client.Result(context.Background(), bundle.server.URL+"/fal-ai/fooocus/requests/r1")
		require.Nil(t, raw)
		var invalid *InvalidOutputError
		require.ErrorAs(t, err, &invalid)
		require.Equal(t, "<html>", string(invalid.Body))
		require.EqualError(t, err, "fal result: response is not valid JSON (6 bytes)")
	})

	// An empty body holds nothing to keep: a plain error, retried.
	t.Run("Empty", func(t *testing.T) {
		t.Parallel()

		bundle := setupClient(t, respondJSON(http.StatusOK, " \n"))
		_, err := bundle.client.Result(context.Background(), bundle.server.URL+"/fal-ai/fooocus/requests/r1")
		var invalid *InvalidOutputError
		require.False(t, errors.As(err, &invalid), "%v", err)
		require.EqualError(t, err, "fal result: response is empty")
	})
}

func TestClientCancel(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name          string
		status        int
		body          string
		want          CancelOutcome
		wantAPIStatus int
	}{
		{name: "Requested", status: http.StatusAccepted, body: `{"status":"CANCELLATION_REQUESTED"}`, want: CancelRequested},
		{name: "RequestedNoBody", status: http.StatusAccepted, body: ``, want: CancelRequested},
		// The old API's answer (protocol §1.6): false cancelled nothing, so
		// the request runs on, to be fetched, never called cancelled.
		{name: "OldSuccessTrue", status: http.StatusOK, body: `{"success":true}`, want: CancelRequested},
		{name: "OldSuccessFalse", status: http.StatusOK, body: `{"success":false}`, want: CancelAlreadyCompleted},
		{name: "OldSuccessNull", status: http.StatusOK, body: `{"success":null}`, want: CancelRequested},
		{name: "AlreadyCompletedWith200", status: http.StatusOK, body: `{"status":"ALREADY_COMPLETED"}`, want: CancelAlreadyCompleted},
		{name: "NotFoundWith200", status: http.StatusOK, body: `{"status":"NOT_FOUND"}`, want: CancelNotFound},
		{name: "AlreadyCompleted", status: http.StatusBadRequest, body: `{"status":"ALREADY_COMPLETED"}`, want: CancelAlreadyCompleted},
		{name: "NotFound", status: http.StatusNotFound, body: `{"status":"NOT_FOUND"}`, want: CancelNotFound},
		{name: "OtherBadRequest", status: http.StatusBadRequest, body: `{"detail":"bad request"}`, wantAPIStatus: 400},
		{name: "ServerError", status: http.StatusInternalServerError, body: `{"detail":"boom"}`, wantAPIStatus: 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			bundle := setupClient(t, respondJSON(tt.status, tt.body))
			outcome, err := bundle.client.Cancel(context.Background(), bundle.server.URL+"/fal-ai/fooocus/requests/r1/cancel")
			if tt.wantAPIStatus != 0 {
				var apiErr *APIError
				require.ErrorAs(t, err, &apiErr)
				require.Equal(t, tt.wantAPIStatus, apiErr.StatusCode)
				require.Equal(t, "cancel", apiErr.Op)
				require.Empty(t, outcome)
			} else {
				require.NoError(t, err)
				require.Equal(t, tt.want, outcome)
			}

			req := bundle.lastRequest(t)
			require.Equal(t, http.MethodPut, req.Method)
			require.Equal(t, "/fal-ai/fooocus/requests/r1/cancel", req.Path)
			require.Empty(t, req.Body)
			require.Equal(t, "Key "+testFalKey, req.Header.Get("Authorization"))
		})
	}
}

// A URL off the queue host that is not fal's layout for the call, down to
// plain segments, cannot be replaced, and is never sent the key: a URL
// rebuilt from it could name another path or request, and fal's 404 for
// that one would be taken for this request's answer.
func TestClientRefusesURLsNamingNoRequest(t *testing.T) {
	t.Parallel()

	bundle := setupClient(t, respondJSON(http.StatusOK, `{"status":"COMPLETED"}`))
	ctx := context.Background()
	// Each is a response URL; the status and cancel URLs add their suffix.
	for _, target := range []string{
		"https://evil.example/admin",
		"https://evil.example/fal-ai/requests/r1",      // no app
		"https://evil.example/fal-ai/fooocus/requests", // no id
		"https://evil.example/fal-ai/fooocus/requests/",
		"https://evil.example/fal-ai/%2e%2e/requests/r1",
		"https://evil.example/fal-ai/a%2Fb/requests/r1",
		"https://evil.example/x%3Fy/app/requests/abc",     // would be a query
		"https://evil.example/fal-ai/x%23y/requests/abc",  // would be a fragment
		"https://evil.example/fal-ai/x%2541/requests/abc", // an escape once decoded again
		"https://evil.example/fal-ai//fooocus/requests/r1",
		"https://evil.example/fal-ai/fooocus/requests/..",
		"https://evil.example/fal-ai/fooocus/requests/%2e%2e",
		"https://evil.example/fal-ai/fooocus/requests/.",
		"https://evil.example/fal-ai/fooocus/requests/a%2Fb",
		"https://evil.example/fal-ai/fooocus/requests/a%3Fb",
		"https://evil.example/fal-ai/fooocus/requests/a%23b",
		"https://evil.example/fal-ai/fooocus/requests/a%20b",
		"https://evil.example/fal-ai/fooocus/requests/r1/extra",         // another layout
		"https://evil.example/api/v1/requests/abc/detail",               // another layout
		"https://evil.example/fal-ai/requests/fooocus/requests/r1",      // which id?
		"https://evil.example/fal-ai/fooocus/requests/r1/requests/r2",   // which id?
		"https://evil.example/fal-ai/fooocus/requests/r1/status/cancel", // which op?
		"%zz",
	} {
		_, err := bundle.client.Status(ctx, target+"/status")
		require.ErrorIs(t, err, ErrInvalidRequest, target)
		_, err = bundle.client.Result(ctx, target)
		require.ErrorIs(t, err, ErrInvalidRequest, target)
		_, err = bundle.client.Cancel(ctx, target+"/cancel")
		require.ErrorIs(t, err, ErrInvalidRequest, target)
	}
	require.Empty(t, bundle.requests)
}

// An off-host URL is rebuilt only for the call its layout is for: a status
// URL given to Cancel, say, is some other URL, not this request's cancel.
func TestClientRefusesOffHostURLsOfAnotherCall(t *testing.T) {
	t.Parallel()

	bundle := setupClient(t, respondJSON(http.StatusOK, `{"status":"COMPLETED"}`))
	ctx := context.Background()
	response := "https://queue.falrun.com/fal-ai/fooocus/requests/r1"
	_, err := bundle.client.Status(ctx, response)
	require.ErrorIs(t, err, ErrInvalidRequest)
	_, err = bundle.client.Status(ctx, response+"/cancel")
	require.ErrorIs(t, err, ErrInvalidRequest)
	_, err = bundle.client.Result(ctx, response+"/status")
	require.ErrorIs(t, err, ErrInvalidRequest)
	_, err = bundle.client.Cancel(ctx, response+"/status")
	require.ErrorIs(t, err, ErrInvalidRequest)
	_, err = bundle.client.Cancel(ctx, response)
	require.ErrorIs(t, err, ErrInvalidRequest)
	require.Empty(t, bundle.requests)
}

func TestClientRequestURLs(t *testing.T) {
	t.Parallel()

	client := NewClient(ClientConfig{QueueURL: "https://queue.fal.run/"})
	tests := []struct {
		endpointID, requestID string
		wantResponse          string
	}{
		{EndpointImagePrompt, "764cabcf", "https://queue.fal.run/fal-ai/fooocus/requests/764cabcf"},
		{"fal-ai/fooocus", "764cabcf", "https://queue.fal.run/fal-ai/fooocus/requests/764cabcf"},
		{"fal-ai/flux/dev/image-to-image", "r", "https://queue.fal.run/fal-ai/flux/requests/r"},
		{"workflows/acme/pipeline/run", "r", "https://queue.fal.run/workflows/acme/pipeline/requests/r"},
		{"comfy/acme/graph", "r", "https://queue.fal.run/comfy/acme/graph/requests/r"},
		{EndpointImagePrompt, "a/b?c", "https://queue.fal.run/fal-ai/fooocus/requests/a%2Fb%3Fc"},
		{"fal-ai/x?y/z", "r", "https://queue.fal.run/fal-ai/x%3Fy/requests/r"},
	}
	for _, tt := range tests {
		status, response, cancel := client.RequestURLs(tt.endpointID, tt.requestID)
		require.Equal(t, tt.wantResponse, response, tt.endpointID)
		require.Equal(t, tt.wantResponse+"/status", status)
		require.Equal(t, tt.wantResponse+"/cancel", cancel)
	}
}
