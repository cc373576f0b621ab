package jobs

import (
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/easelhq/easel/internal/logthrottle"
)

// submitFailuresSummaryEvery is how often, at most, a process logs a
// summary of the submit failures of one error code.
const submitFailuresSummaryEvery = time.Minute

// submitFailures summarises a process's retried submit failures by error
// code. In a fal outage every queued generation fails again at each retry
// (about 11 times in the first 10 minutes): a WARN for each would bury the
// log, so submitFailed logs a generation's first failure at WARN and its
// retries at DEBUG, whatever their code, and this adds one WARN
// a minute per code saying how many fail. Each row's error_code and
// error_message keep every detail regardless.
type submitFailures struct {
	// throttle counts the failures by code and times the summaries: each a
	// minute or more after the first failure it counts, since that
	// failure's own WARN already said it. Its keys, the codes, are few and
	// never forgotten.
	throttle *logthrottle.Throttle

	mu sync.Mutex
	// byCode holds, by code, what the next summary tells besides the count.
	byCode map[string]*submitFailureWindow
}

// submitFailureWindow is what a summary reports of the failures of one code
// since the summary before.
type submitFailureWindow struct {
	since       time.Time
	failures    int
	generations map[uuid.UUID]struct{}
	lastError   string
}

// newSubmitFailures returns a submitFailures; opts are for tests' clocks.
func newSubmitFailures(opts ...logthrottle.Option) *submitFailures {
	return &submitFailures{
		throttle: logthrottle.New(submitFailuresSummaryEvery, 0, append(opts, logthrottle.Summarize())...),
		byCode:   map[string]*submitFailureWindow{},
	}
}

// add counts a failure of generation id with code, message being its
// error message, and returns the window to summarise once
// submitFailuresSummaryEvery has passed since its first failure, or nil.
func (s *submitFailures) add(code string, id uuid.UUID, message string) *submitFailureWindow {
	s.mu.Lock() // so that a summary has every failure the throttle counted
	defer s.mu.Unlock()
	win := s.byCode[code]
	if win == nil {
		win = &submitFailureWindow{generations: map[uuid.UUID]struct{}{}}
		s.byCode[code] = win
	}
	win.generations[id] = struct{}{}
	win.lastError = message
	n, since, ok := s.throttle.Allow(code)
	if !ok {
		return nil
	}
	delete(s.byCode, code)
	win.failures, win.since = n, since
	return win
}
