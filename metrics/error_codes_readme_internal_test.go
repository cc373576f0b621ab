package metrics

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/readmetest"
	"github.com/easelhq/easel/store"
)

// TestREADMEFailureCodesHaveSeries fails when the codes docs/API.md's "Error
// codes" table says a generation can fail with are not exactly those of
// store.ErrorCodes that a failed generation may have, each with a series
// of its own, or when the table gives the status cancelled to any code but
// store.ErrorCodeCancelled, the one a cancelled generation counts under.
// jobs' TestREADMEErrorCodes holds the whole table to store.ErrorCodes.
func TestREADMEFailureCodesHaveSeries(t *testing.T) {
	t.Parallel()

	var failures, cancels []string
	for code, statuses := range readmetest.ErrorCodes(t) {
		if slices.Contains(statuses, string(store.StatusFailed)) {
			failures = append(failures, code)
		}
		if slices.Contains(statuses, string(store.StatusCancelled)) {
			cancels = append(cancels, code)
		}
	}
	require.ElementsMatch(t, easelFailureCodes, failures)
	require.Equal(t, []string{store.ErrorCodeCancelled}, cancels)

	series := map[finishedLabel]bool{}
	for _, l := range finishedLabels() {
		series[l] = true
	}
	for _, code := range failures {
		require.True(t, series[finishedLabel{string(store.StatusFailed), code}], "failed %s has a series from the start", code)
		require.Equal(t, code, ErrorCodeLabel(code), "failed %s counts under its own code, not %s", code, OtherErrorCode)
		require.NotContains(t, falErrorTypes, code, "%s is Easel's, not one of fal's error types", code)
	}
	require.True(t, series[finishedLabel{string(store.StatusCancelled), store.ErrorCodeCancelled}])
	// Codes that never fail a generation have no failed series.
	for _, code := range []string{store.ErrorCodeSubmitUnconfirmed, store.ErrorCodeCancelled} {
		require.False(t, series[finishedLabel{string(store.StatusFailed), code}], "%s never fails a generation", code)
	}
}
