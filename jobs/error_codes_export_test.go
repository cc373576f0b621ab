package jobs

import "github.com/easelhq/easel/store"

// Two submit error codes under the names that
// submit_failures_summary_internal_test.go still uses; store declares
// every error code.
const (
	errorCodeRateLimited = store.ErrorCodeFalRateLimited
	errorCodeUnavailable = store.ErrorCodeFalUnavailable
)
