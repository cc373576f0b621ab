package enqueuecli_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/enqueuecli"
)

// While the generation is at fal, --wait reports each change of fal's
// status and queue position on stderr, whether the resource has them yet
// or not; stdout still gets only the image URLs.
func TestEnqueueWaitShowsFalStatus(t *testing.T) {
	t.Parallel()
	const submitted = `{"id": "g1", "status": "submitted", "fal_request_id": "r1"`
	answers := []string{
		submitted + `, "fal_status": null, "fal_queue_position": null, "fal_status_at": null}`,
		submitted + `, "fal_status": "IN_QUEUE", "fal_queue_position": 2, "fal_status_at": "2026-11-26T06:00:01Z"}`,
		submitted + `, "fal_status": "IN_QUEUE", "fal_queue_position": 2, "fal_status_at": "2026-11-26T06:00:05Z"}`,
		submitted + `, "fal_status": "IN_QUEUE", "fal_queue_position": 0, "fal_status_at": "2026-11-26T06:00:09Z"}`,
		submitted + `, "fal_status": "IN_PROGRESS", "fal_queue_position": null, "fal_status_at": "2026-11-26T06:00:13Z"}`,
		`{"id": "g1", "status": "completed", "fal_request_id": "r1", "fal_status": "COMPLETED", "fal_queue_position": null,
			"images": [{"url": "https://cdn.example.com/a.png", "nsfw": false}]}`,
	}
	api := newFakeAPI(t, answer{http.StatusAccepted, queued}, func(n int32) answer {
		return answer{http.StatusOK, answers[min(int(n), len(answers))-1]}
	})

	r, code := runFake(t, context.Background(), api.url, "--wait")
	require.Zero(t, code, "%v", r.err)
	require.Equal(t, "https://cdn.example.com/a.png\n", r.stdout, "stdout is for the result alone")
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	want := []string{"queued", "submitted (fal request r1)", "at fal: IN_QUEUE, 2 ahead", "at fal: IN_QUEUE, next to run",
		"at fal: IN_PROGRESS", "completed: 1 image(s)"}
	require.Len(t, lines, len(want)+2, r.stderr)
	require.Equal(t, "enqueued g1", lines[0])
	for i, w := range want {
		require.Regexp(t, `^\s+\d+\.\ds  `+regexp.QuoteMeta(w)+`$`, lines[i+1])
	}
	require.Equal(t, "gallery: "+api.url+"/generations/g1", lines[len(lines)-1])
}

// Against a real easel serve whose fal is busy, the position Easel records
// from fal reaches the command: two requests hold the simulator's only
// runner and the first place in its queue, so the waited one is behind one.
func TestEnqueueWaitShowsFalQueue(t *testing.T) {
	t.Parallel()
	// The reconciler asks fal about a generation no webhook settled
	// EASEL_POLL_AFTER after its submission; an hour's run never sends one.
	b := setupEnv(t, falsim.Config{MaxConcurrency: 1, Latency: falsim.Latency{Min: time.Hour, Max: time.Hour}},
		map[string]string{"EASEL_POLL_AFTER": "1s"})
	for _, prompt := range []string{"running", "next"} {
		r := run(t, b, nil, "--prompt", prompt, "--image-url", imageURL)
		require.NoError(t, r.err, r.stderr)
		id := strings.TrimSpace(r.stdout)
		// One after the other, so that the queue's order is theirs.
		require.Eventually(t, func() bool { return b.get(t, id).Status == "submitted" }, 30*time.Second, 20*time.Millisecond)
	}

	const line = "at fal: IN_QUEUE, 1 ahead"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &watchedWriter{match: line, matched: cancel}
	var stdout strings.Builder
	err := enqueuecli.Run(ctx, []string{"--server", b.baseURL, "--prompt", "waits", "--image-url", imageURL, "--wait", "--timeout", "1m"},
		enqueuecli.Env{Stdout: &stdout, Stderr: stderr, Getenv: func(string) string { return "" }})
	require.ErrorIs(t, err, enqueuecli.ErrInterrupted, "stopped by the test once the line came: %v\n%s", err, stderr.String())
	require.Regexp(t, `\n\s+\d+\.\ds  submitted \(fal request \S+\)\n(.*\n)*\s+\d+\.\ds  `+line+`\n`, stderr.String())
	require.Empty(t, stdout.String())
}

// watchedWriter keeps what is written, and calls matched once it holds
// match.
type watchedWriter struct {
	match   string
	matched func()

	mu   sync.Mutex
	buf  strings.Builder
	once sync.Once
}

func (w *watchedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.match) {
		w.once.Do(w.matched)
	}
	return len(p), nil
}

func (w *watchedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
