package jobs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/easelhq/easel/fal"
)

const (
	// maxSubmitAttempts is how many submissions are tried before a
	// generation fails with the last error: with submitBackoff, about an
	// hour and a half of fal refusing. When fal may have accepted the last
	// one, the generation is held back instead (ErrorCodeSubmitUnconfirmed).
	maxSubmitAttempts = 20

	submitBackoffBase = 500 * time.Millisecond
	submitBackoffMax  = 10 * time.Minute
)

// Error codes recorded on a generation when a submit fails.
const (
	errorCodeAuth           = "fal_auth"            // 401/403: the key or the account
	errorCodeRejected       = "fal_rejected"        // other 4xx: fal refused the input
	errorCodeRequestTimeout = "fal_request_timeout" // 504 for the request's own deadline
	errorCodeRateLimited    = "fal_rate_limited"    // 429
	errorCodeUnavailable    = "fal_unavailable"     // 5xx, 408, 409: fal or its ingress
	errorCodeUnreachable    = "fal_unreachable"     // no HTTP answer
	errorCodeInvalidRequest = "invalid_request"     // refused by the client before sending
)

// submitFailure is what a failed submit means for the generation.
type submitFailure struct {
	code, message string

	// retry is false when no later attempt can succeed.
	retry bool

	// retryAfter is fal's Retry-After, a floor for the next attempt.
	retryAfter time.Duration

	// mayBeAccepted is true unless the failure proves fal queued nothing:
	// an error status without a request id, or a connection never made.
	mayBeAccepted bool
}

// classifySubmitError maps a submit error to a submitFailure.
func classifySubmitError(err error) submitFailure {
	var apiErr *fal.APIError
	switch {
	case errors.Is(err, fal.ErrInvalidRequest):
		return submitFailure{code: errorCodeInvalidRequest, message: err.Error()}
	case errors.As(err, &apiErr):
		return classifyAPIError(apiErr)
	case neverConnected(err):
		return submitFailure{code: errorCodeUnreachable, message: err.Error(), retry: true}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return submitFailure{code: errorCodeUnreachable, message: "no answer from fal in time: " + err.Error(), retry: true, mayBeAccepted: true}
	default:
		// The request may have reached fal: a broken connection, or an
		// answer that could not be read.
		return submitFailure{code: errorCodeUnreachable, message: err.Error(), retry: true, mayBeAccepted: true}
	}
}

func classifyAPIError(e *fal.APIError) submitFailure {
	f := submitFailure{message: e.Error(), mayBeAccepted: e.RequestID != ""}
	switch {
	case e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden:
		f.code = errorCodeAuth
		f.message = fmt.Sprintf("fal refused Easel's credentials (HTTP %d): check FAL_KEY and the fal account "+
			"(balance, lock) at https://fal.ai/dashboard; fal said: %s", e.StatusCode, e.Detail)
	case e.StatusCode == http.StatusGatewayTimeout && e.TimeoutType == "user":
		f.code = errorCodeRequestTimeout
	case e.StatusCode == http.StatusTooManyRequests:
		f.code, f.retry, f.retryAfter = errorCodeRateLimited, true, e.RetryAfter
	case e.Retryable():
		f.code, f.retry, f.retryAfter = errorCodeUnavailable, true, e.RetryAfter
	default:
		f.code = errorCodeRejected
	}
	return f
}

// neverConnected reports whether err happened before any byte of the
// request could reach fal.
func neverConnected(err error) bool {
	var opErr *net.OpError
	var dnsErr *net.DNSError
	return (errors.As(err, &opErr) && opErr.Op == "dial") || errors.As(err, &dnsErr)
}

// submitBackoff is the wait before submission attempt+1: from 0.5s,
// doubling to 10 minutes, plus up to a fifth more so that retries spread,
// and never less than fal's Retry-After.
func submitBackoff(attempt int, retryAfter time.Duration) time.Duration {
	d := submitBackoffMax
	if shift := attempt - 1; shift < 20 {
		d = min(submitBackoffBase<<max(shift, 0), submitBackoffMax)
	}
	d += rand.N(d/5 + 1)
	return max(d, retryAfter)
}
