package api

import (
	"time"

	"github.com/easelhq/easel/internal/logthrottle"
)

// refusalLogEvery is how often at most a client's 429 too_many_pending
// refusals are logged: a flooding client is refused at its own request
// rate, and one line per refusal would bury everything else.
const refusalLogEvery = time.Minute

// refusalLogForget is how long after its latest line a client is
// forgotten, so that the state stays as small as the clients refused
// lately.
const refusalLogForget = 5 * time.Minute

// refusalLog throttles the WARN of a client's refused enqueues: the first
// refusal is logged at once, and those within refusalLogEvery of a line
// are counted and reported by the client's next line, at its first
// refusal a refusalLogEvery or more after. Refusals that no later one
// follows are only in easel_api_errors_total.
type refusalLog struct {
	throttle *logthrottle.Throttle
}

// newRefusalLog returns a refusalLog; opts are for tests' clocks.
func newRefusalLog(opts ...logthrottle.Option) *refusalLog {
	return &refusalLog{throttle: logthrottle.New(refusalLogEvery, refusalLogForget, opts...)}
}

// refused records a refusal of client's enqueue and reports whether to log
// it now, with how many refusals the line reports (this one included) and
// since when.
func (l *refusalLog) refused(client string) (n int, since time.Time, log bool) {
	return l.throttle.Allow(client)
}
