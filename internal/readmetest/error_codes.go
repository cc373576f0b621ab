// Package readmetest reads what README.md states, for the tests that keep
// it true to the code.
package readmetest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// errorCodesHeading opens README.md's table of the error codes Easel writes.
const errorCodesHeading = "### Error codes"

// backticked is a value README.md writes as code, such as `failed`.
var backticked = regexp.MustCompile("`([^`]+)`")

// ErrorCodes returns the rows of README.md's "Error codes" table: each code
// with the statuses its status cell names, in order, for tests to hold to
// store.ErrorCodes. It fails t unless the
// section has one such table whose rows each name one code, once, with
// statuses that exist.
func ErrorCodes(t testing.TB) map[string][]string {
	t.Helper()
	section := errorCodesSection(t)

	lines := strings.Split(section, "\n")
	isRow := func(line string) bool { return strings.HasPrefix(line, "|") }
	start := slices.IndexFunc(lines, isRow)
	require.GreaterOrEqual(t, start, 0, "README.md's %q section has a table", errorCodesHeading)
	end := len(lines)
	if n := slices.IndexFunc(lines[start:], func(line string) bool { return !isRow(line) }); n >= 0 {
		end = start + n
	}
	require.False(t, slices.ContainsFunc(lines[end:], isRow), "README.md's %q section has one table", errorCodesHeading)
	rows := lines[start:end]
	require.Greater(t, len(rows), 2, "README.md's %q table has a header, a separator and rows", errorCodesHeading)

	known := []string{
		string(store.StatusQueued), string(store.StatusSubmitted), string(store.StatusCompleted),
		string(store.StatusFailed), string(store.StatusCancelled),
	}
	codes := map[string][]string{}
	for _, row := range rows[2:] {
		cells := strings.Split(strings.Trim(row, "|"), "|")
		require.GreaterOrEqual(t, len(cells), 2, "README.md's error code row %q has a code and a status", row)
		code := backticked.FindStringSubmatch(strings.TrimSpace(cells[0]))
		require.NotNil(t, code, "README.md's error code row %q starts with one `code`", row)
		require.Equal(t, "`"+code[1]+"`", strings.TrimSpace(cells[0]), "README.md's error code row %q starts with one `code`", row)
		require.NotContains(t, codes, code[1], "README.md's error code table lists %s twice", code[1])

		var statuses []string
		for _, m := range backticked.FindAllStringSubmatch(cells[1], -1) {
			require.Contains(t, known, m[1], "README.md's error code %s has a status that does not exist", code[1])
			statuses = append(statuses, m[1])
		}
		require.NotEmpty(t, statuses, "README.md's error code %s names its status as `status`", code[1])
		codes[code[1]] = slices.Compact(statuses)
	}
	return codes
}

// errorCodesSection returns README.md's "Error codes" section, from its
// heading to the next heading.
func errorCodesSection(t testing.TB) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(moduleRoot(t), "README.md"))
	require.NoError(t, err)

	_, after, found := strings.Cut(string(readme), "\n"+errorCodesHeading+"\n")
	require.True(t, found, "README.md has a %q section", errorCodesHeading)
	if i := strings.Index(after, "\n#"); i >= 0 {
		after = after[:i]
	}
	return after
}

// moduleRoot returns the directory of go.mod above the test's working
// directory, its package's: README.md is there, however deep the package.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, dir, parent, "no go.mod above the test's directory")
		dir = parent
	}
}
