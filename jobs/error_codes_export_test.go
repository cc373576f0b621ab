package jobs

// The codes a failed submit records, exposed to jobs_test so that
// TestREADMEErrorCodes can hold README.md's table to them.
const (
	ErrorCodeAuth           = errorCodeAuth
	ErrorCodeRejected       = errorCodeRejected
	ErrorCodeRequestTimeout = errorCodeRequestTimeout
	ErrorCodeRateLimited    = errorCodeRateLimited
	ErrorCodeUnavailable    = errorCodeUnavailable
	ErrorCodeUnreachable    = errorCodeUnreachable
	ErrorCodeInvalidRequest = errorCodeInvalidRequest
)
