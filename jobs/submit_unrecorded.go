package jobs

import (
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
)

// unrecordedRequests returns the requests fal accepted for earlier runs of
// job whose answers were never recorded, newest first: those this process
// remembers, then those the job's errors name (unrecordedAnswerError).
func (w *SubmitGenerationWorker) unrecordedRequests(job *river.Job[SubmitGenerationArgs]) []string {
	id := job.Args.GenerationID
	requests := w.unrecorded.requests(id)
	for i := len(job.Errors) - 1; i >= 0; i-- {
		if r, ok := parseUnrecordedAnswer(id, job.Errors[i].Error); ok && !slices.Contains(requests, r) {
			requests = append(requests, r)
		}
	}
	return requests
}

// unrecordedAnswerError is the error of a run whose submit fal accepted, as
// request requestID, but whose answer could not be recorded. River keeps
// its text in the job's errors once it can write to the database again,
// where the job's next run, in whatever process, finds the request with
// parseUnrecordedAnswer: the text is formatUnrecordedAnswer's, and the only
// other text parsed is the previous release's (legacyUnrecordedAnswer).
type unrecordedAnswerError struct {
	generationID uuid.UUID
	requestID    string
	err          error
}

func (e *unrecordedAnswerError) Error() string {
	return formatUnrecordedAnswer(e.generationID, e.requestID, e.err)
}

func (e *unrecordedAnswerError) Unwrap() error { return e.err }

// The text of an unrecordedAnswerError is unrecordedAnswerPrefix, the
// generation's id, unrecordedAnswerAccepted, the request id quoted as a Go
// string, so that any request id reads back exactly, and
// unrecordedAnswerFailed, followed by ": " and the cause, if any.
const (
	unrecordedAnswerPrefix   = "submit generation "
	unrecordedAnswerAccepted = ": fal accepted request "
	unrecordedAnswerFailed   = " but recording its answer failed"
)

// formatUnrecordedAnswer is the text of an unrecordedAnswerError.
func formatUnrecordedAnswer(id uuid.UUID, requestID string, cause error) string {
	s := unrecordedAnswerPrefix + id.String() + unrecordedAnswerAccepted + strconv.Quote(requestID) + unrecordedAnswerFailed
	if cause != nil {
		s += ": " + cause.Error()
	}
	return s
}

// parseUnrecordedAnswer returns the request id that s, the text of an
// error of a run of generation id's submit job, names as fal's accepted
// request whose answer could not be recorded, if s is
// formatUnrecordedAnswer's text for id, or the previous release's
// (legacyUnrecordedAnswer).
func parseUnrecordedAnswer(id uuid.UUID, s string) (string, bool) {
	rest, ok := strings.CutPrefix(s, unrecordedAnswerPrefix+id.String()+unrecordedAnswerAccepted)
	if !ok {
		return "", false
	}
	if !strings.HasPrefix(rest, `"`) {
		return legacyUnrecordedAnswer(rest)
	}
	quoted, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return "", false
	}
	requestID, err := strconv.Unquote(quoted)
	if err != nil || requestID == "" {
		return "", false
	}
	rest, ok = strings.CutPrefix(rest[len(quoted):], unrecordedAnswerFailed)
	if !ok || (rest != "" && !strings.HasPrefix(rest, ": ")) {
		return "", false
	}
	return requestID, true
}

// legacyUnrecordedAnswer reads rest, what follows unrecordedAnswerAccepted
// in the previous release's text of the same error,
// "submit generation ID: fal accepted request REQUEST: CAUSE", with the
// request id unquoted: a job that lost an answer under that release and
// runs again after the upgrade must record the request, not pay for
// another. Unquoted, a request id has no sure end, so only a UUID, which
// fal's request ids are (/work/shared/fal-protocol.md, 1.3), is taken, in
// its 36-character form and followed by ": ", the cause always being there.
func legacyUnrecordedAnswer(rest string) (string, bool) {
	const uuidLen = 36
	if len(rest) < uuidLen || !strings.HasPrefix(rest[uuidLen:], ": ") {
		return "", false
	}
	requestID := rest[:uuidLen]
	if err := uuid.Validate(requestID); err != nil {
		return "", false
	}
	return requestID, true
}

// minUnrecordedAnswers is the least number of generations whose unrecorded
// requests a process remembers (unrecordedAnswersBound).
const minUnrecordedAnswers = 1024

// unrecordedAnswersBound bounds the generations whose unrecorded requests a
// process with workers submit workers (EASEL_WORKERS) remembers. An outage
// loses the answers of the submit calls under way when it starts, at most
// workers, exactly when River cannot write them to the job's errors; twice
// that leaves room for a second outage before the first one's jobs have
// run again. Past the bound the oldest are dropped, which only the job's
// errors then hold.
func unrecordedAnswersBound(workers int) int {
	return max(minUnrecordedAnswers, 2*workers)
}

// unrecordedAnswers remembers, per generation, the requests fal accepted
// whose answers the process could not record, for the next run of their
// jobs in this process. It is the fast path that the job's errors back:
// River writes those when the database is back, unless its rescuer ran the
// job again first.
type unrecordedAnswers struct {
	max  int // generations remembered at most
	mu   sync.Mutex
	seq  uint64
	byID map[uuid.UUID]*unrecordedEntry
}

type unrecordedEntry struct {
	requests []string // oldest first
	seq      uint64   // when the latest was remembered
}

// newUnrecordedAnswers remembers the requests of at most max generations.
func newUnrecordedAnswers(max int) *unrecordedAnswers {
	return &unrecordedAnswers{max: max, byID: make(map[uuid.UUID]*unrecordedEntry)}
}

// remember notes requestID for generation id. It reports whether it
// dropped another generation's requests to make room.
func (u *unrecordedAnswers) remember(id uuid.UUID, requestID string) (dropped bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.seq++
	if e, ok := u.byID[id]; ok {
		if !slices.Contains(e.requests, requestID) {
			e.requests = append(e.requests, requestID)
		}
		e.seq = u.seq
		return false
	}
	if len(u.byID) >= u.max {
		var oldest uuid.UUID
		var oldestSeq uint64
		for other, e := range u.byID {
			if oldestSeq == 0 || e.seq < oldestSeq {
				oldest, oldestSeq = other, e.seq
			}
		}
		delete(u.byID, oldest)
		dropped = true
	}
	u.byID[id] = &unrecordedEntry{requests: []string{requestID}, seq: u.seq}
	return dropped
}

// requests returns the requests remembered for generation id, newest first.
func (u *unrecordedAnswers) requests(id uuid.UUID) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	e, ok := u.byID[id]
	if !ok {
		return nil
	}
	requests := slices.Clone(e.requests)
	slices.Reverse(requests)
	return requests
}

// forget drops what is remembered for generation id, once it is settled:
// recorded, submitted again, or no longer queued.
func (u *unrecordedAnswers) forget(id uuid.UUID) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.byID, id)
}
