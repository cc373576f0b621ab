// Package readmetest reads what the documentation (README.md and docs/)
// states, for the tests that keep it true to the code.
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

// errorCodesFile holds the table of the error codes Easel writes, under
// errorCodesHeading; README.md links to it.
const (
	errorCodesFile    = "docs/API.md"
	errorCodesHeading = "## Error codes"
)

// backticked is a value the documentation writes as code, such as `failed`.
var backticked = regexp.MustCompile("`([^`]+)`")

// ErrorCodes returns the rows of docs/API.md's "Error codes" table: each code
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
	require.GreaterOrEqual(t, start, 0, "%s's %q section has a table", errorCodesFile, errorCodesHeading)
	end := len(lines)
	if n := slices.IndexFunc(lines[start:], func(line string) bool { return !isRow(line) }); n >= 0 {
		end = start + n
	}
	require.False(t, slices.ContainsFunc(lines[end:], isRow), "%s's %q section has one table", errorCodesFile, errorCodesHeading)
	rows := lines[start:end]
	require.Greater(t, len(rows), 2, "%s's %q table has a header, a separator and rows", errorCodesFile, errorCodesHeading)

	known := []string{
		string(store.StatusQueued), string(store.StatusSubmitted), string(store.StatusCompleted),
		string(store.StatusFailed), string(store.StatusCancelled),
	}
	codes := map[string][]string{}
	for _, row := range rows[2:] {
		cells := strings.Split(strings.Trim(row, "|"), "|")
		require.GreaterOrEqual(t, len(cells), 2, "%s's error code row %q has a code and a status", errorCodesFile, row)
		code := backticked.FindStringSubmatch(strings.TrimSpace(cells[0]))
		require.NotNil(t, code, "%s's error code row %q starts with one `code`", errorCodesFile, row)
		require.Equal(t, "`"+code[1]+"`", strings.TrimSpace(cells[0]), "%s's error code row %q starts with one `code`", errorCodesFile, row)
		require.NotContains(t, codes, code[1], "%s's error code table lists %s twice", errorCodesFile, code[1])

		var statuses []string
		for _, m := range backticked.FindAllStringSubmatch(cells[1], -1) {
			require.Contains(t, known, m[1], "%s's error code %s has a status that does not exist", errorCodesFile, code[1])
			statuses = append(statuses, m[1])
		}
		require.NotEmpty(t, statuses, "%s's error code %s names its status as `status`", errorCodesFile, code[1])
		codes[code[1]] = slices.Compact(statuses)
	}
	return codes
}

// errorCodesSection returns docs/API.md's "Error codes" section, from its
// heading to the next heading.
func errorCodesSection(t testing.TB) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(moduleRoot(t), filepath.FromSlash(errorCodesFile)))
	require.NoError(t, err)

	_, after, found := strings.Cut(string(doc), "\n"+errorCodesHeading+"\n")
	require.True(t, found, "%s has a %q section", errorCodesFile, errorCodesHeading)
	if i := strings.Index(after, "\n#"); i >= 0 {
		after = after[:i]
	}
	return after
}

// moduleRoot returns the directory of go.mod above the test's working
// directory, its package's: README.md and docs/ are there, however deep the
// package.
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
