// Package logtest captures a running component's log output for tests.
package logtest

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Buffer is a bytes.Buffer safe for concurrent use: servers, workers and
// spinners write while the test reads.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Records returns every line written so far, each decoded as a JSON
// object, in order.
func (b *Buffer) Records(t testing.TB) []map[string]any {
	t.Helper()
	return Decode[map[string]any](t, b)
}

// Lines returns the records whose msg is msg.
func (b *Buffer) Lines(t testing.TB, msg string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, record := range b.Records(t) {
		if record["msg"] == msg {
			lines = append(lines, record)
		}
	}
	return lines
}

// Decode decodes every line written to b so far as a T, in order, for a
// test that compares whole lines or wants typed fields (a time.Time, an
// int) rather than what a map holds. A line that does not decode fails t:
// a slog JSON handler writes nothing else, so such a line is a bug.
func Decode[T any](t testing.TB, b *Buffer) []T {
	t.Helper()
	var out []T
	for line := range strings.Lines(b.String()) {
		var v T
		require.NoError(t, json.Unmarshal([]byte(line), &v), line)
		out = append(out, v)
	}
	return out
}
