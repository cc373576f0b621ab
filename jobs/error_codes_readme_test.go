package jobs_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/readmetest"
	"github.com/easelhq/easel/store"
)

// TestREADMEErrorCodes fails when docs/API.md's "Error codes" table and
// store.ErrorCodes, the codes Easel writes on a generation, differ: a code
// missing from the table, one the table lists that Easel does not write,
// or a status the table gives a code that it never has (or leaves out one
// it may have). fal's own error types are not in the table: they pass
// through as they come.
func TestREADMEErrorCodes(t *testing.T) {
	t.Parallel()

	written := map[string][]string{}
	for _, c := range store.ErrorCodes() {
		require.NotContains(t, written, c.Code, "store.ErrorCodes lists %s twice", c.Code)
		for _, s := range c.Statuses {
			written[c.Code] = append(written[c.Code], string(s))
		}
	}
	require.Equal(t, written, readmetest.ErrorCodes(t))
}
