package jobs

import (
	"sync"
	"time"

	"github.com/google/uuid"
)

// submitFailuresSummaryEvery is how often, at most, a process logs a
// summary of the submit failures of one error code.
const submitFailuresSummaryEvery = time.Minute

// submitFailures summarises a process's retried submit failures by error
// code. In a fal outage every queued generation fails again at each retry
// (about 11 times in the first 10 minutes): a WARN for each would bury the
// log, so submitFailed logs a generation's first failure with a code at
// WARN and its retries failing the same way at DEBUG, and this adds one WARN
// a minute per code saying how many fail. Each row's error_code and
// error_message keep every detail regardless.
type submitFailures struct {
	now func() time.Time

	mu     sync.Mutex
	byCode map[string]*submitFailureWindow
}

// submitFailureWindow counts the failures of one code since the summary
// before.
type submitFailureWindow struct {
	since       time.Time
	failures    int
	generations map[uuid.UUID]struct{}
	lastError   string
}

func newSubmitFailures() *submitFailures {
	return &submitFailures{now: time.Now, byCode: map[string]*submitFailureWindow{}}
}

// add counts a failure of generation id with code, message being its
// error message, and returns the window to summarise once
// submitFailuresSummaryEvery has passed since its first failure, or nil.
func (s *submitFailures) add(code string, id uuid.UUID, message string) *submitFailureWindow {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	win := s.byCode[code]
	if win == nil {
		win = &submitFailureWindow{since: now, generations: map[uuid.UUID]struct{}{}}
		s.byCode[code] = win
	}
	win.failures++
	win.generations[id] = struct{}{}
	win.lastError = message
	if now.Sub(win.since) < submitFailuresSummaryEvery {
		return nil
	}
	delete(s.byCode, code)
	return win
}
