package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/easelhq/easel/fal"
)

// Operations of fal's queue API, the values of the operation label of
// easel_fal_requests_total and easel_fal_request_duration_seconds
// (fal.APIError's Op).
const (
	falSubmit = "submit"
	falStatus = "status"
	falResult = "result"
	falCancel = "cancel"
)

var falOperations = []string{falSubmit, falStatus, falResult, falCancel}

// Results of a call to fal, the values of the result label of
// easel_fal_requests_total and easel_fal_request_duration_seconds. See
// falResultOf.
const (
	falOK             = "ok"
	falRateLimited    = "rate_limited"    // 429
	falUnavailable    = "unavailable"     // 5xx, 408, 409: fal or its ingress
	falAuth           = "auth"            // 401, 403: FAL_KEY or the account (balance, lock)
	falNotFound       = "not_found"       // 404, 410
	falRejected       = "rejected"        // another 4xx: fal refused the call (validation)
	falInvalidRequest = "invalid_request" // refused by the client, never sent
	falUnreachable    = "unreachable"     // no HTTP answer: connection refused or broken, DNS, an unreadable answer
	falTimeout        = "timeout"         // no answer within the call's deadline
)

var falResults = []string{
	falOK, falRateLimited, falUnavailable, falAuth, falNotFound, falRejected, falInvalidRequest, falUnreachable, falTimeout,
}

// falResultOf classifies err, the error of a call to fal's queue API, as
// easel_fal_requests_total's result label counts it.
func falResultOf(err error) string {
	var apiErr *fal.APIError
	var netErr net.Error
	switch {
	case err == nil:
		return falOK
	case errors.Is(err, fal.ErrInvalidRequest):
		return falInvalidRequest
	case errors.As(err, &apiErr):
		return falStatusResult(apiErr.StatusCode)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.As(err, &netErr) && netErr.Timeout():
		return falTimeout
	default:
		return falUnreachable
	}
}

func falStatusResult(code int) string {
	switch {
	case code == http.StatusTooManyRequests:
		return falRateLimited
	case code == http.StatusUnauthorized, code == http.StatusForbidden:
		return falAuth
	case code == http.StatusNotFound, code == http.StatusGone:
		return falNotFound
	case code == http.StatusRequestTimeout, code == http.StatusConflict:
		return falUnavailable
	case code >= 400 && code < 500:
		return falRejected
	default:
		// 5xx, and the odd redirect fal's client does not follow.
		return falUnavailable
	}
}

// falCalled counts a call to fal's queue API that started at start, and
// observes how long it took: fal's own latency, which no job's duration
// tells apart from the waits around the call (a FAL_MAX_INFLIGHT slot, the
// database).
func (m *Metrics) falCalled(operation string, start time.Time, err error) {
	result := falResultOf(err)
	m.falRequests.WithLabelValues(operation, result).Inc()
	m.falDuration.WithLabelValues(operation, result).Observe(time.Since(start).Seconds())
}

// CountFal returns client, each of its calls counted in
// easel_fal_requests_total and timed in easel_fal_request_duration_seconds:
// whoever makes the call, the submit worker, the reconciler or a cancel, it
// is counted once, where it is made. With nil Metrics it returns client
// itself.
func (m *Metrics) CountFal(client fal.Queue) fal.Queue {
	if m == nil {
		return client
	}
	return countedFal{Queue: client, m: m}
}

type countedFal struct {
	fal.Queue
	m *Metrics
}

func (c countedFal) Submit(ctx context.Context, req fal.SubmitRequest) (*fal.QueueResponse, error) {
	start := time.Now()
	resp, err := c.Queue.Submit(ctx, req)
	c.m.falCalled(falSubmit, start, err)
	return resp, err
}

func (c countedFal) Status(ctx context.Context, statusURL string) (*fal.Status, error) {
	start := time.Now()
	status, err := c.Queue.Status(ctx, statusURL)
	c.m.falCalled(falStatus, start, err)
	return status, err
}

func (c countedFal) Result(ctx context.Context, responseURL string) (json.RawMessage, error) {
	start := time.Now()
	output, err := c.Queue.Result(ctx, responseURL)
	c.m.falCalled(falResult, start, err)
	return output, err
}

func (c countedFal) Cancel(ctx context.Context, cancelURL string) (fal.CancelOutcome, error) {
	start := time.Now()
	outcome, err := c.Queue.Cancel(ctx, cancelURL)
	c.m.falCalled(falCancel, start, err)
	return outcome, err
}
