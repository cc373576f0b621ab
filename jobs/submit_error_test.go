package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
)

// Every class of submit error, including those the simulator cannot produce
// (403, a 504 for the request's own deadline, ingress errors with and
// without a request id).
func TestClassifySubmitError(t *testing.T) {
	t.Parallel()

	dialErr := &url.Error{Op: "Post", URL: "https://queue.fal.run/x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	tests := []struct {
		name string
		err  error
		want submitFailure
	}{
		{"401", &fal.APIError{StatusCode: 401, Detail: "No user found for Key ID and Secret"},
			submitFailure{code: "fal_auth"}},
		{"403 locked account", &fal.APIError{StatusCode: 403, Detail: "User is locked. Reason: Exhausted balance."},
			submitFailure{code: "fal_auth"}},
		{"422", &fal.APIError{StatusCode: 422, Detail: "prompt: field required"},
			submitFailure{code: "fal_rejected"}},
		{"422 with a request id may be billed", &fal.APIError{StatusCode: 422, RequestID: "r"},
			submitFailure{code: "fal_rejected", mayBeAccepted: true}},
		{"429", &fal.APIError{StatusCode: 429, RetryAfter: 7 * time.Second},
			submitFailure{code: "fal_rate_limited", retry: true, retryAfter: 7 * time.Second}},
		{"503 from the ingress", &fal.APIError{StatusCode: 503},
			submitFailure{code: "fal_unavailable", retry: true}},
		{"502 with a request id", &fal.APIError{StatusCode: 502, RequestID: "r"},
			submitFailure{code: "fal_unavailable", retry: true, mayBeAccepted: true}},
		{"504 from the ingress", &fal.APIError{StatusCode: 504},
			submitFailure{code: "fal_unavailable", retry: true}},
		{"504 for the request's own deadline", &fal.APIError{StatusCode: 504, TimeoutType: "user"},
			submitFailure{code: "fal_request_timeout"}},
		{"refused before sending", fmt.Errorf("fal submit: %w: bad endpoint", fal.ErrInvalidRequest),
			submitFailure{code: "invalid_request"}},
		{"connection refused", dialErr,
			submitFailure{code: "fal_unreachable", retry: true}},
		{"connection broken after sending", &url.Error{Op: "Post", URL: "u", Err: io.ErrUnexpectedEOF},
			submitFailure{code: "fal_unreachable", retry: true, mayBeAccepted: true}},
		{"no answer in time", &url.Error{Op: "Post", URL: "u", Err: context.DeadlineExceeded},
			submitFailure{code: "fal_unreachable", retry: true, mayBeAccepted: true}},
	}
	for _, tt := range tests {
		got := classifySubmitError(tt.err)
		require.NotEmpty(t, got.message, tt.name)
		got.message = ""
		require.Equal(t, tt.want, got, tt.name)
	}

	auth := classifySubmitError(&fal.APIError{StatusCode: 403, Detail: "User is locked. Reason: Exhausted balance."})
	require.Contains(t, auth.message, "check FAL_KEY")
	require.Contains(t, auth.message, "Exhausted balance", "fal's own words reach the operator")
}

func TestSubmitBackoff(t *testing.T) {
	t.Parallel()

	for attempt, base := range map[int]time.Duration{
		1:  500 * time.Millisecond,
		2:  time.Second,
		5:  8 * time.Second,
		12: 10 * time.Minute,
		60: 10 * time.Minute,
	} {
		d := submitBackoff(attempt, 0)
		require.GreaterOrEqual(t, d, base, "attempt %d", attempt)
		require.LessOrEqual(t, d, base+base/5, "attempt %d", attempt)
	}
	require.Equal(t, time.Minute, submitBackoff(1, time.Minute), "never sooner than Retry-After")
}
