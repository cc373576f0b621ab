package fal

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestClientAPIErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name          string
		status        int
		header        []string
		body          string
		want          APIError // Op, StatusCode and Body are filled in
		wantRetryable bool
	}{
		{
			name:   "Unauthorized",
			status: http.StatusUnauthorized,
			body:   `{"detail": "No user found for Key ID and Secret"}`,
			want:   APIError{Detail: "No user found for Key ID and Secret"},
		},
		{
			name:   "Forbidden",
			status: http.StatusForbidden,
			body:   `{"detail": "User is locked. Reason: Exhausted balance."}`,
			want:   APIError{Detail: "User is locked. Reason: Exhausted balance."},
		},
		{
			name:   "ValidationList",
			status: http.StatusUnprocessableEntity,
			body: `{"detail": [
				{"loc": ["body", "num_images"], "msg": "Input should be less than or equal to 4", "type": "less_than_equal", "ctx": {"le": 4}, "input": 5},
				{"loc": ["body", "loras", 0, "scale"], "msg": "Input should be a valid number", "type": "float_parsing"},
				{"loc": ["body", "prompt"], "msg": "field required", "type": "value_error.missing"}]}`,
			want: APIError{Detail: "num_images: Input should be less than or equal to 4; " +
				"loras.0.scale: Input should be a valid number; prompt: field required"},
		},
		{
			name:   "ValidationString",
			status: http.StatusUnprocessableEntity,
			body:   `{"detail": "Unsupported image format"}`,
			want:   APIError{Detail: "Unsupported image format"},
		},
		{
			name:          "TooManyRequests",
			status:        http.StatusTooManyRequests,
			header:        []string{"Retry-After", "7"},
			body:          `{"detail": "Queue is full"}`,
			want:          APIError{Detail: "Queue is full", RetryAfter: 7 * time.Second},
			wantRetryable: true,
		},
		{
			name:          "RequestTimeout",
			status:        http.StatusRequestTimeout,
			want:          APIError{},
			wantRetryable: true,
		},
		{
			name:          "Conflict",
			status:        http.StatusConflict,
			want:          APIError{},
			wantRetryable: true,
		},
		{
			name:   "BadRequest",
			status: http.StatusBadRequest,
			body:   `{"detail": "Bad request", "error_type": "bad_request"}`,
			want:   APIError{Detail: "Bad request", ErrorType: "bad_request"},
		},
		{
			name:          "InternalServerError",
			status:        http.StatusInternalServerError,
			header:        []string{"X-Fal-Request-Id", "req-500"},
			body:          `{"detail": "Internal error", "error_type": "internal_error"}`,
			want:          APIError{Detail: "Internal error", ErrorType: "internal_error", RequestID: "req-500"},
			wantRetryable: true,
		},
		{
			name:          "BadGatewayFromProxy",
			status:        http.StatusBadGateway,
			header:        []string{"X-Fal-Error-Type", "runner_incomplete_response"},
			body:          "Bad Gateway\n<html>...</html>",
			want:          APIError{Detail: "Bad Gateway", ErrorType: "runner_incomplete_response"},
			wantRetryable: true,
		},
		{
			name:          "ServiceUnavailable",
			status:        http.StatusServiceUnavailable,
			body:          `{"detail": "Runner scheduling failure", "error_type": "runner_scheduling_failure"}`,
			want:          APIError{Detail: "Runner scheduling failure", ErrorType: "runner_scheduling_failure"},
			wantRetryable: true,
		},
		{
			name:          "GatewayTimeout",
			status:        http.StatusGatewayTimeout,
			body:          `{"detail": "Request timed out", "error_type": "request_timeout"}`,
			want:          APIError{Detail: "Request timed out", ErrorType: "request_timeout"},
			wantRetryable: true,
		},
		{
			name:   "GatewayTimeoutUserDeadline",
			status: http.StatusGatewayTimeout,
			header: []string{"X-Fal-Request-Timeout-Type", "user"},
			body:   `{"detail": "Request timed out", "error_type": "request_timeout"}`,
			want:   APIError{Detail: "Request timed out", ErrorType: "request_timeout", TimeoutType: "user"},
		},
		{
			name:   "KeyEchoed",
			status: http.StatusUnauthorized,
			body:   `{"detail": "Bad key ` + testFalKey + `"}`,
			want:   APIError{Detail: "Bad key [REDACTED]"},
		},
		{
			name:   "LongDetailTruncated",
			status: http.StatusUnprocessableEntity,
			body:   `{"detail": "` + strings.Repeat("é", 400) + `"}`,
			want:   APIError{Detail: strings.Repeat("é", maxDetailLen/2) + "…"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			bundle := setupClient(t, respondJSON(tt.status, tt.body, tt.header...))
			_, err := bundle.client.Submit(context.Background(), SubmitRequest{
				EndpointID: EndpointImagePrompt,
				Input:      json.RawMessage(`{}`),
			})
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)

			want := tt.want
			want.Op, want.StatusCode = "submit", tt.status
			want.Body = []byte(strings.ReplaceAll(tt.body, testFalKey, "[REDACTED]"))
			if len(want.Body) == 0 {
				want.Body = apiErr.Body // nil or empty, either is fine
			}
			require.Equal(t, &want, apiErr)
			require.Equal(t, tt.wantRetryable, apiErr.Retryable())
			require.NotContains(t, err.Error(), testFalKey)
			require.NotContains(t, string(apiErr.Body), testFalKey)
		})
	}
}

func TestClientAPIErrorBodyCapped(t *testing.T) {
	t.Parallel()

	bundle := setupClient(t, respondJSON(http.StatusInternalServerError, strings.Repeat("x", 2*maxErrorBody)))
	_, err := bundle.client.Submit(context.Background(), SubmitRequest{EndpointID: EndpointImagePrompt, Input: json.RawMessage(`{}`)})
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	require.Len(t, apiErr.Body, maxErrorBody)
	require.Less(t, len(apiErr.Error()), maxDetailLen+100)
}

func TestAPIErrorError(t *testing.T) {
	t.Parallel()

	tests := []struct {
		err  APIError
		want string
	}{
		{APIError{Op: "submit", StatusCode: 401, Detail: "No user found"}, "fal submit: HTTP 401: No user found"},
		{APIError{Op: "status", StatusCode: 504, ErrorType: "request_timeout", Detail: "Request timed out"},
			"fal status: HTTP 504 request_timeout: Request timed out"},
		{APIError{Op: "cancel", StatusCode: 500}, "fal cancel: HTTP 500"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.err.Error())
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()

	now := time.Date(2026, 2, 17, 10, 30, 0, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"120", 2 * time.Minute},
		{"-5", 0},
		{"Tue, 17 Feb 2026 10:30:30 GMT", 30 * time.Second},
		{"Tue, 17 Feb 2026 10:29:00 GMT", 0},
		{"soon", 0},
		{"99999999999", 0},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, parseRetryAfter(tt.value, now), tt.value)
	}
}
