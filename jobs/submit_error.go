package jobs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/store"
)

const (
	// maxSubmitAttempts is how many submissions are tried before a
	// generation fails with the last error: with submitBackoff, about an
	// hour and a half of fal refusing. When fal may have accepted the last
	// one, the generation is held back instead
	// (store.ErrorCodeSubmitUnconfirmed).
	maxSubmitAttempts = 20

	submitBackoffBase = 500 * time.Millisecond
	submitBackoffMax  = 10 * time.Minute
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

	// interruptedBy names what of Easel's own cut the call off (see
	// explainInterruption), "" when nothing did.
	interruptedBy string
}

// classifySubmitError maps a submit error to a submitFailure.
func classifySubmitError(err error) submitFailure {
	var apiErr *fal.APIError
	switch {
	case errors.Is(err, fal.ErrInvalidRequest):
		return submitFailure{code: store.ErrorCodeInvalidRequest, message: err.Error()}
	case errors.As(err, &apiErr):
		return classifyAPIError(apiErr)
	case neverConnected(err):
		return submitFailure{code: store.ErrorCodeFalUnreachable, message: err.Error(), retry: true}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return submitFailure{code: store.ErrorCodeFalUnreachable, message: "no answer from fal in time: " + err.Error(), retry: true, mayBeAccepted: true}
	default:
		// The request may have reached fal: a broken connection, or an
		// answer that could not be read.
		return submitFailure{code: store.ErrorCodeFalUnreachable, message: err.Error(), retry: true, mayBeAccepted: true}
	}
}

// What of Easel's own can cut a submit call off, as submitFailure's
// interruptedBy and the log name them.
const (
	interruptedByStop   = "process stopping"
	interruptedByCancel = "job cancelled in River"
)

// explainInterruption returns f, the classification of submitErr, with a
// message that says so when Easel, not fal, ended the call: River cancels a
// running job's context when its process stops (easel serve's shutdown
// once it stops waiting for running jobs; the cause is River's "stop
// initiated") or when the job is cancelled in River
// (rivertype.ErrJobCancelledRemotely). net/http then fails the call with
// the context's cause rather than context.Canceled, which
// classifySubmitError, seeing only the error, takes for fal not answering
// and would record as fal's doing. Only the message changes: whether fal
// may have accepted the request, and so the accounting and what happens
// next, stays as classifySubmitError found it. The job's own deadline is no
// interruption: fal was slower than half of EASEL_RESCUE_AFTER.
func explainInterruption(jobCtx context.Context, submitErr error, f submitFailure) submitFailure {
	cause := context.Cause(jobCtx)
	if f.code != store.ErrorCodeFalUnreachable || !errors.Is(jobCtx.Err(), context.Canceled) ||
		!(errors.Is(submitErr, context.Canceled) || errors.Is(submitErr, cause)) {
		return f
	}
	var what, next string
	if errors.Is(cause, rivertype.ErrJobCancelledRemotely) {
		f.interruptedBy = interruptedByCancel
		what = "its submit_generation job was cancelled in River while the call to fal was under way"
		next = "nothing was sent to fal, and no job submits it again"
		if f.mayBeAccepted {
			next = "fal may have accepted it, and no job submits it again: its webhook finishes it, " +
				"else the reconciler fails it with code " + store.ErrorCodeTimeout + " EASEL_TIMEOUT after its first submission"
		}
	} else {
		f.interruptedBy = interruptedByStop
		what = "Easel's process was stopping (a shutdown or deploy) and cut the submit call off"
		next = "nothing was sent to fal; it is submitted again"
		if f.mayBeAccepted {
			next = "fal may have accepted it, so it waits EASEL_POLL_AFTER for its webhook before it is submitted again"
		}
	}
	f.message = fmt.Sprintf("%s, before fal answered (not a fault of fal's): %s: %s", what, next, submitErr)
	return f
}

func classifyAPIError(e *fal.APIError) submitFailure {
	f := submitFailure{message: e.Error(), mayBeAccepted: e.RequestID != ""}
	switch {
	case e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden:
		f.code = store.ErrorCodeFalAuth
		f.message = fmt.Sprintf("fal refused Easel's credentials (HTTP %d): check FAL_KEY and the fal account "+
			"(balance, lock) at https://fal.ai/dashboard; fal said: %s", e.StatusCode, e.Detail)
	case e.StatusCode == http.StatusGatewayTimeout && e.TimeoutType == "user":
		f.code = store.ErrorCodeFalRequestTimeout
	case e.StatusCode == http.StatusTooManyRequests:
		f.code, f.retry, f.retryAfter = store.ErrorCodeFalRateLimited, true, e.RetryAfter
	case e.Retryable():
		f.code, f.retry, f.retryAfter = store.ErrorCodeFalUnavailable, true, e.RetryAfter
	default:
		f.code = store.ErrorCodeFalRejected
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
