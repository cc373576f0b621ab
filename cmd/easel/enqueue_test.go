package main

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/enqueuecli"
)

// easel enqueue's exit codes are the same in its --help, in README's table
// and in enqueuecli.
func TestEnqueueExitCodesDocumented(t *testing.T) {
	t.Parallel()

	want := []int{enqueuecli.ExitCompleted, enqueuecli.ExitFailed, enqueuecli.ExitInvalid, enqueuecli.ExitNoAnswer,
		enqueuecli.ExitRefused, enqueuecli.ExitInterrupted, 143}

	_, helpCodes, ok := strings.Cut(enqueueHelp.footer, "exit codes:\n")
	require.True(t, ok)
	var inHelp []int
	for _, m := range regexp.MustCompile(`(?m)^  (\d+)  `).FindAllStringSubmatch(helpCodes, -1) {
		inHelp = append(inHelp, atoi(t, m[1]))
	}
	inHelp = append(inHelp, 143) // said on 130's line
	require.Contains(t, helpCodes, "(143: SIGTERM)")
	require.Equal(t, want, inHelp)

	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "\n### `easel enqueue`\n")
	require.True(t, ok)
	_, table, ok := strings.Cut(section, "\n| code | meaning |\n|---|---|\n")
	require.True(t, ok, "README's easel enqueue section has its exit code table")
	var inREADME []int
	for line := range strings.Lines(table) {
		if !strings.HasPrefix(line, "| `") {
			break
		}
		cell, _, _ := strings.Cut(strings.TrimPrefix(line, "| "), " |")
		for _, m := range regexp.MustCompile("`(\\d+)`").FindAllStringSubmatch(cell, -1) {
			inREADME = append(inREADME, atoi(t, m[1]))
		}
	}
	require.Equal(t, want, inREADME)
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}
