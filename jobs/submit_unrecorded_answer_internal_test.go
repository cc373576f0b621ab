package jobs

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"
)

// The text of an unrecordedAnswerError, which River keeps in the job's
// errors, reads back as exactly the request it names, as does the previous
// release's unquoted text when it names a UUID, fal's form of request id;
// nothing else reads as one: another generation's, an unquoted request id
// that is no UUID, or a text that only looks like it.
func TestParseUnrecordedAnswer(t *testing.T) {
	t.Parallel()
	id := uuid.MustParse("01a2180c-0544-7948-b91e-4c1ddc7f428b")
	other := uuid.MustParse("01a2180c-0855-77d1-9a15-5ac9e81d5380")
	cause := errors.New(`record submission of generation 01a2180c-0544-7948-b91e-4c1ddc7f428b: failed to connect: dial tcp: connection refused`)
	const prefix = "submit generation 01a2180c-0544-7948-b91e-4c1ddc7f428b: fal accepted request "

	for _, tt := range []struct {
		name          string
		text          string
		wantRequestID string // "": not one
	}{
		{
			name:          "formatted",
			text:          formatUnrecordedAnswer(id, "f399b7b2-75bf-423c-be4d-5935fe3ad50b", cause),
			wantRequestID: "f399b7b2-75bf-423c-be4d-5935fe3ad50b",
		},
		{
			name:          "formatted without a cause",
			text:          formatUnrecordedAnswer(id, "f399b7b2-75bf-423c-be4d-5935fe3ad50b", nil),
			wantRequestID: "f399b7b2-75bf-423c-be4d-5935fe3ad50b",
		},
		{
			name:          "a request id with quotes, spaces and the separator in it",
			text:          formatUnrecordedAnswer(id, `a "b" but recording its answer failed: c`, cause),
			wantRequestID: `a "b" but recording its answer failed: c`,
		},
		{
			name:          "a request id with non-ASCII and control characters",
			text:          formatUnrecordedAnswer(id, "é\n\x00", cause),
			wantRequestID: "é\n\x00",
		},
		{
			name:          "the error as Work returns it",
			text:          (&unrecordedAnswerError{generationID: id, requestID: "r-1", err: cause}).Error(),
			wantRequestID: "r-1",
		},
		{name: "another generation's", text: formatUnrecordedAnswer(other, "f399b7b2-75bf-423c-be4d-5935fe3ad50b", cause)},
		{name: "an empty request id", text: formatUnrecordedAnswer(id, "", cause)},
		{
			name:          "the previous release's unquoted text",
			text:          prefix + "f399b7b2-75bf-423c-be4d-5935fe3ad50b: " + cause.Error(),
			wantRequestID: "f399b7b2-75bf-423c-be4d-5935fe3ad50b",
		},
		{
			name:          "the previous release's text, as its Work returned it",
			text:          fmt.Errorf("submit generation %s: fal accepted request %s: %w", id, "764cabcf-b745-4b3e-ae38-1200304cf45b", cause).Error(),
			wantRequestID: "764cabcf-b745-4b3e-ae38-1200304cf45b",
		},
		{name: "the previous release's text, another generation's", text: fmt.Sprintf("submit generation %s: fal accepted request %s: x", other, "f399b7b2-75bf-423c-be4d-5935fe3ad50b")},
		{name: "the previous release's text, no UUID", text: prefix + "r-1: " + cause.Error()},
		{name: "the previous release's text, a UUID run on", text: prefix + "f399b7b2-75bf-423c-be4d-5935fe3ad50bx: x"},
		{name: "the previous release's text, no cause", text: prefix + "f399b7b2-75bf-423c-be4d-5935fe3ad50b"},
		{name: "the previous release's text, a UUID in braces", text: prefix + "{f399b7b2-75bf-423c-be4d-5935fe3ad50b}: x"},
		{name: "the previous release's text, a UUID without hyphens", text: prefix + "f399b7b275bf423cbe4d5935fe3ad50b: x"},
		{name: "the previous release's text, truncated", text: prefix + "f399b7b2-75bf-423c-be4d-5935fe3a"},
		{name: "backquoted", text: prefix + "`r-1` but recording its answer failed: x"},
		{name: "unterminated quote", text: prefix + `"r-1 but recording its answer failed: x`},
		{name: "bad escape", text: prefix + `"r-\q" but recording its answer failed: x`},
		{name: "no separator", text: prefix + `"r-1": x`},
		{name: "separator run on", text: prefix + `"r-1" but recording its answer failedx`},
		{name: "wrapped by something else", text: "job failed: " + formatUnrecordedAnswer(id, "r-1", cause)},
		{name: "River's rescue", text: "Stuck job rescued by JobRescuer"},
		{name: "empty", text: ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			requestID, ok := parseUnrecordedAnswer(id, tt.text)
			require.Equal(t, tt.wantRequestID != "", ok, "%q", tt.text)
			require.Equal(t, tt.wantRequestID, requestID)
		})
	}
}

// The next run tries the requests this process remembers, then those the
// job's errors name, newest first and each once.
func TestUnrecordedRequestsNewestFirst(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	w := &SubmitGenerationWorker{unrecorded: newUnrecordedAnswers(minUnrecordedAnswers)}
	w.unrecorded.remember(id, "r-2")
	w.unrecorded.remember(id, "r-4")
	w.unrecorded.remember(uuid.New(), "another generation's")
	job := &river.Job[SubmitGenerationArgs]{
		JobRow: &rivertype.JobRow{Attempt: 5, Errors: []rivertype.AttemptError{
			{Attempt: 1, Error: formatUnrecordedAnswer(id, "r-1", errors.New("down"))},
			{Attempt: 2, Error: formatUnrecordedAnswer(id, "r-2", errors.New("down"))},
			{Attempt: 3, Error: "Stuck job rescued by JobRescuer"},
			{Attempt: 4, Error: formatUnrecordedAnswer(id, "r-3", errors.New("down"))},
		}},
		Args: SubmitGenerationArgs{GenerationID: id},
	}
	require.Equal(t, []string{"r-4", "r-2", "r-3", "r-1"}, w.unrecordedRequests(job))

	w.unrecorded.forget(id)
	require.Equal(t, []string{"r-3", "r-2", "r-1"}, w.unrecordedRequests(job))
}

// A process remembers the unrecorded requests of at most
// minUnrecordedAnswers generations, or twice its workers when that is more:
// one outage loses at most one answer per worker.
func TestUnrecordedAnswersBound(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		workers, want int
	}{
		{workers: 1, want: minUnrecordedAnswers},
		{workers: 16, want: minUnrecordedAnswers},
		{workers: 512, want: minUnrecordedAnswers},
		{workers: 513, want: 1026},
		{workers: 10000, want: 20000},
	} {
		require.Equal(t, tt.want, unrecordedAnswersBound(tt.workers), "%d workers", tt.workers)
	}

	// The worker sizes its map from Config.MaxWorkers (EASEL_WORKERS), or
	// its default.
	require.Equal(t, 20000, NewSubmitGenerationWorker(nil, Config{MaxWorkers: 10000}).unrecorded.max)
	require.Equal(t, minUnrecordedAnswers, NewSubmitGenerationWorker(nil, Config{}).unrecorded.max)
}

// A process remembers the unrecorded requests of at most its bound of
// generations, dropping the one remembered least recently; the job's
// errors still name theirs.
func TestUnrecordedAnswersAreBounded(t *testing.T) {
	t.Parallel()
	const max = 3
	u := newUnrecordedAnswers(max)
	ids := make([]uuid.UUID, max+1)
	for i := range ids {
		ids[i] = uuid.New()
	}
	for _, id := range ids[:max] {
		require.False(t, u.remember(id, "r"))
	}
	require.False(t, u.remember(ids[0], "r-again"), "a generation already remembered takes no room")
	require.True(t, u.remember(ids[max], "r"), "full: one dropped")
	require.Len(t, u.byID, max)
	require.Nil(t, u.requests(ids[1]), "the least recently remembered is dropped")
	require.Equal(t, []string{"r-again", "r"}, u.requests(ids[0]))
	require.Equal(t, []string{"r"}, u.requests(ids[max]))
}
