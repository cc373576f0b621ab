package store

import "slices"

// The error codes Easel itself writes in generations.error_code, each
// declared here once; ErrorCodes lists them with the statuses they come
// with. docs/API.md's "Error codes" table explains each, and a test holds
// the table to ErrorCodes. A result fal failed passes fal's own error type
// through instead (fal's types are free-form, so no list holds them), and
// ErrorCodeFalError when it names none.
const (
	// ErrorCodeCancelled ends a generation cancelled by a client, or by
	// fal's result saying that an earlier cancel reached it (Cancel).
	ErrorCodeCancelled = "cancelled"
	// ErrorCodeTimeout fails a generation that fal did not finish within
	// EASEL_TIMEOUT of its first submission.
	ErrorCodeTimeout = "timeout"
	// ErrorCodeResultUnavailable notes on a submitted generation that fal
	// reports its request finished but its result cannot be fetched, while
	// the reconciler retries; it fails the generation once they give up.
	ErrorCodeResultUnavailable = "result_unavailable"
	// ErrorCodeSubmitUnconfirmed notes on a queued generation that it is
	// held back from being submitted again: fal may have accepted
	// submissions of it whose answers never came. It never fails one.
	ErrorCodeSubmitUnconfirmed = "submit_unconfirmed"
	// ErrorCodeJobLost fails a generation whose submit job was cancelled,
	// deleted or discarded in River before anything was sent to fal.
	ErrorCodeJobLost = "job_lost"
	// ErrorCodeSubmitFailed fails a generation whose submit job used up
	// River's attempts on errors of Easel's own before any submission
	// reached fal.
	ErrorCodeSubmitFailed = "submit_failed"
	// ErrorCodeInvalidRequest fails a generation that Easel's fal client
	// refused to send.
	ErrorCodeInvalidRequest = "invalid_request"
	// ErrorCodeFalAuth fails a generation whose submission fal refused
	// with 401 or 403: the key or the account.
	ErrorCodeFalAuth = "fal_auth"
	// ErrorCodeFalRejected fails a generation whose submission fal
	// refused with another 4xx.
	ErrorCodeFalRejected = "fal_rejected"
	// ErrorCodeFalRequestTimeout fails a generation whose submission fal
	// answered 504 for the request's own start deadline.
	ErrorCodeFalRequestTimeout = "fal_request_timeout"
	// ErrorCodeFalRateLimited notes fal's 429 on a queued generation while
	// its submission is retried, and fails it once the attempts are used
	// up.
	ErrorCodeFalRateLimited = "fal_rate_limited"
	// ErrorCodeFalUnavailable is ErrorCodeFalRateLimited for a 5xx, 408 or
	// 409 from fal or its ingress.
	ErrorCodeFalUnavailable = "fal_unavailable"
	// ErrorCodeFalUnreachable is ErrorCodeFalRateLimited for a submission
	// that got no answer from fal at all.
	ErrorCodeFalUnreachable = "fal_unreachable"
	// ErrorCodeInvalidOutput fails a generation whose request fal completed
	// with an output that is not the one Easel reads.
	ErrorCodeInvalidOutput = "invalid_output"
	// ErrorCodeFalError fails a generation whose result is an error of
	// fal's that names no type.
	ErrorCodeFalError = "fal_error"
	// ErrorCodeSimulatorRestarted fails a generation whose request was on
	// an in-process fal simulator that no longer runs (easel serve without
	// FAL_KEY): the simulator keeps its requests in memory only, and
	// listens on a new port at every start, so nothing can ever finish
	// them, and they would otherwise wait EASEL_TIMEOUT for a timeout.
	ErrorCodeSimulatorRestarted = "simulator_restarted"
)

// ErrorCodeInfo is one of the error codes Easel itself writes.
type ErrorCodeInfo struct {
	Code string
	// Statuses are the statuses a generation may have while it carries
	// Code, in the order it may pass through them: on an unfinished
	// generation the code is a note, which its next state clears or
	// replaces.
	Statuses []Status
	// WithoutResult is true when a generation Code ended had no result of
	// fal's, so that a result arriving afterwards is stored as OutcomeLate
	// rather than OutcomeDuplicate. A cancel counts as none even when fal's
	// result revealed it: that result reported Easel's own cancel, not
	// the request's output. It is false only for the codes written from
	// fal's result, ErrorCodeInvalidOutput and ErrorCodeFalError, as it
	// would be for fal's own error types.
	WithoutResult bool
}

var (
	cancelledOnly       = []Status{StatusCancelled}
	failedOnly          = []Status{StatusFailed}
	queuedThenFailed    = []Status{StatusQueued, StatusFailed}
	submittedThenFailed = []Status{StatusSubmitted, StatusFailed}
)

// errorCodes is what ErrorCodes returns copies of, in docs/API.md's order.
var errorCodes = []ErrorCodeInfo{
	{ErrorCodeCancelled, cancelledOnly, true},
	{ErrorCodeTimeout, failedOnly, true},
	{ErrorCodeResultUnavailable, submittedThenFailed, true},
	{ErrorCodeSubmitUnconfirmed, []Status{StatusQueued}, true},
	{ErrorCodeJobLost, failedOnly, true},
	{ErrorCodeSubmitFailed, failedOnly, true},
	{ErrorCodeInvalidRequest, failedOnly, true},
	{ErrorCodeFalAuth, failedOnly, true},
	{ErrorCodeFalRejected, failedOnly, true},
	{ErrorCodeFalRequestTimeout, failedOnly, true},
	{ErrorCodeFalRateLimited, queuedThenFailed, true},
	{ErrorCodeFalUnavailable, queuedThenFailed, true},
	{ErrorCodeFalUnreachable, queuedThenFailed, true},
	{ErrorCodeInvalidOutput, failedOnly, false},
	{ErrorCodeFalError, failedOnly, false},
	{ErrorCodeSimulatorRestarted, failedOnly, true},
}

// ErrorCodes returns every error code Easel itself writes, each once: the
// one list that the outcome of a late result, the series of
// easel_generations_finished_total and docs/API.md's table all follow. Each
// call returns a new slice, which the caller may change.
func ErrorCodes() []ErrorCodeInfo {
	codes := slices.Clone(errorCodes)
	for i := range codes {
		codes[i].Statuses = slices.Clone(codes[i].Statuses)
	}
	return codes
}
