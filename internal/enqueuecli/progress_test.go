package enqueuecli

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/easelhq/easel/internal/logtest"
	"github.com/stretchr/testify/require"
)

func TestProgressPlain(t *testing.T) {
	t.Parallel()
	var out logtest.Buffer
	p := newProgress(&out, false, time.Now())
	p.update(&generation{Status: "queued"})
	p.update(&generation{Status: "queued"})
	p.update(&generation{Status: "completed"})
	p.close()

	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 2, "an unchanged state is printed once")
	require.Regexp(t, `^\s+0\.\ds  queued$`, lines[0])
	require.Regexp(t, `^\s+0\.\ds  completed: 0 image\(s\)$`, lines[1])
}

// While submitted, each change of fal's status or queue position is a
// line of its own; the same answer again, or fal's COMPLETED on the
// finished generation, prints nothing.
func TestProgressFalStatus(t *testing.T) {
	t.Parallel()
	var out logtest.Buffer
	p := newProgress(&out, false, time.Now())
	submitted := func(status *string, position *int) *generation {
		return &generation{Status: "submitted", FalRequestID: ptr("r-1"), FalStatus: status, FalQueuePosition: position}
	}
	p.update(submitted(nil, nil))
	p.update(submitted(ptr("IN_QUEUE"), ptr(3)))
	p.update(submitted(ptr("IN_QUEUE"), ptr(3)))
	p.update(submitted(ptr("IN_QUEUE"), ptr(1)))
	p.update(submitted(ptr("IN_PROGRESS"), nil))
	p.update(&generation{Status: "completed", FalRequestID: ptr("r-1"), FalStatus: ptr("COMPLETED")})
	p.close()

	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := []string{"submitted (fal request r-1)", "at fal: IN_QUEUE, 3 ahead", "at fal: IN_QUEUE, 1 ahead", "at fal: IN_PROGRESS", "completed: 0 image(s)"}
	require.Len(t, lines, len(want), out.String())
	for i, w := range want {
		require.Regexp(t, `^\s+0\.\ds  `+regexp.QuoteMeta(w)+`$`, lines[i])
	}
}

func TestFalLine(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		g    generation
		want string
	}{
		{generation{Status: "submitted"}, ""},
		{generation{Status: "submitted", FalStatus: ptr("")}, ""},
		{generation{Status: "submitted", FalStatus: ptr("IN_QUEUE")}, "at fal: IN_QUEUE"},
		{generation{Status: "submitted", FalStatus: ptr("IN_QUEUE"), FalQueuePosition: ptr(0)}, "at fal: IN_QUEUE, next to run"},
		{generation{Status: "submitted", FalStatus: ptr("IN_QUEUE"), FalQueuePosition: ptr(12)}, "at fal: IN_QUEUE, 12 ahead"},
		{generation{Status: "submitted", FalStatus: ptr("IN_PROGRESS")}, "at fal: IN_PROGRESS"},
		{generation{Status: "submitted", FalStatus: ptr("COMPLETED")}, "at fal: COMPLETED"},
		// Once the generation has left fal, what fal said last is history,
		// which the state line supersedes.
		{generation{Status: "queued", FalStatus: ptr("IN_QUEUE"), FalQueuePosition: ptr(2)}, ""},
		{generation{Status: "completed", FalStatus: ptr("COMPLETED")}, ""},
		{generation{Status: "failed", FalStatus: ptr("IN_QUEUE"), FalQueuePosition: ptr(40)}, ""},
	} {
		require.Equal(t, tt.want, falLine(&tt.g), "%+v", tt.g)
	}
}

func TestProgressTerminal(t *testing.T) {
	t.Parallel()
	var out logtest.Buffer
	p := newProgress(&out, true, time.Now())
	p.update(&generation{Status: "submitted", FalRequestID: ptr("req-1")})
	p.close()

	got := out.String()
	// The state line replaces the spinner's line, the spinner is redrawn
	// below it, and closing erases the spinner.
	require.True(t, strings.HasPrefix(got, "\r\x1b[K"), "%q", got)
	require.Regexp(t, `\r\x1b\[K\s+\d+\.\ds  submitted \(fal request req-1\)\n\r\x1b\[K[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] submitted \d+\.\ds`, got)
	require.True(t, strings.HasSuffix(got, "\r\x1b[K"), "%q", got)
}

func TestStateLine(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		g    generation
		want string
	}{
		{generation{Status: "queued"}, "queued"},
		{generation{Status: "queued", Error: &errorInfo{Code: "fal_unavailable"}}, "queued (submit failed, retrying: fal_unavailable)"},
		{generation{Status: "submitted"}, "submitted"},
		{generation{Status: "submitted", FalRequestID: ptr("r-1")}, "submitted (fal request r-1)"},
		{generation{Status: "completed", Images: []image{{NSFW: ptr(false)}, {NSFW: ptr(true)}}}, "completed: 2 image(s), 1 flagged NSFW"},
		{generation{Status: "completed", Images: []image{{NSFW: ptr(false)}, {NSFW: ptr(false)}}}, "completed: 2 image(s)"},
		// An unknown flag (null since schema 27) is said, never shown as
		// not flagged.
		{generation{Status: "completed", Images: []image{{NSFW: ptr(false)}, {}}}, "completed: 2 image(s), 1 NSFW unknown"},
		{generation{Status: "completed", Images: []image{{NSFW: ptr(true)}, {}, {}}}, "completed: 3 image(s), 1 flagged NSFW, 2 NSFW unknown"},
		{generation{Status: "failed", Error: &errorInfo{Code: "fal_validation", Message: "bad url"}}, "failed: fal_validation: bad url"},
		{generation{Status: "failed", Error: &errorInfo{Code: "timeout"}}, "failed: timeout"},
		{generation{Status: "failed", Error: &errorInfo{Message: "no code"}}, "failed: no code"},
		{generation{Status: "cancelled", Error: &errorInfo{Code: "cancelled"}}, "cancelled"},
		{generation{Status: "cancelled", Error: &errorInfo{Code: "cancelled", Message: "cancelled before it was submitted to fal"}},
			"cancelled: cancelled before it was submitted to fal"},
		{generation{Status: "failed"}, "failed"},
		// A result polled rather than delivered by webhook says so: it is
		// why it came late.
		{generation{Status: "completed", Images: []image{{NSFW: ptr(false)}}, ResultSource: ptr("poll")},
			"completed: 1 image(s); result fetched by polling: no webhook in time"},
		{generation{Status: "completed", Images: []image{{NSFW: ptr(false)}}, ResultSource: ptr("webhook")}, "completed: 1 image(s)"},
		{generation{Status: "failed", Error: &errorInfo{Code: "fal_validation", Message: "bad url"}, ResultSource: ptr("poll")},
			"failed: fal_validation: bad url; result fetched by polling: no webhook in time"},
	} {
		require.Equal(t, tt.want, stateLine(&tt.g))
	}
}

// The API's null nsfw (unknown, since schema 27) reads as unknown, not as
// "not flagged", which a bool would have made it.
func TestStateLineReadsUnknownNSFW(t *testing.T) {
	t.Parallel()
	var g generation
	require.NoError(t, json.Unmarshal([]byte(`{"id": "g1", "status": "completed", "images": [`+
		`{"url": "https://cdn.example/a.png", "nsfw": true}, {"url": "https://cdn.example/b.png", "nsfw": null}, `+
		`{"url": "https://cdn.example/c.png", "nsfw": false}]}`), &g))
	require.Equal(t, []image{
		{URL: "https://cdn.example/a.png", NSFW: ptr(true)},
		{URL: "https://cdn.example/b.png"},
		{URL: "https://cdn.example/c.png", NSFW: ptr(false)},
	}, g.Images)
	require.Equal(t, "completed: 3 image(s), 1 flagged NSFW, 1 NSFW unknown", stateLine(&g))
}

func ptr[T any](v T) *T { return &v }
