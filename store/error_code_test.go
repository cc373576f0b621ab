package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// ErrorCodes lists each code once, with the statuses it may come with,
// never completed (a completed generation keeps no code), and hands each
// caller a copy of its own.
func TestErrorCodes(t *testing.T) {
	t.Parallel()

	codes := store.ErrorCodes()
	seen := map[string]bool{}
	for _, c := range codes {
		require.False(t, seen[c.Code], "%s is listed once", c.Code)
		seen[c.Code] = true
		require.NotEmpty(t, c.Statuses, "%s names its statuses", c.Code)
		require.NotContains(t, c.Statuses, store.StatusCompleted, "a completed generation keeps no code, %s included", c.Code)
	}
	require.True(t, seen[store.ErrorCodeSubmitFailed])

	codes[0].Code = "changed"
	codes[0].Statuses[0] = store.StatusCompleted
	again := store.ErrorCodes()
	require.NotEqual(t, "changed", again[0].Code)
	require.NotEqual(t, store.StatusCompleted, again[0].Statuses[0], "a caller's change reaches no other")
}
