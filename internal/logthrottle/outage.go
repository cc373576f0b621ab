package logthrottle

import (
	"sync"
	"time"
)

// Outage follows the failures of something that fails alike while a
// dependency is down (the database, mostly) and says which of them get a
// line, and when a line saying it works again is due.
//
// Its failures are counted from the first one after a success, the outage's
// start. Their lines are throttled per key as a Throttle's are, at once and
// then at most once an every, counting across successes what went unlogged,
// so that a flapping dependency does not get a line a second. The first
// success after failures one of whose lines was logged is due a recovery
// line, with the failures and how long they lasted, so that the last line
// about the dependency says whether it is up; an outage all of whose lines
// were throttled away gets none, its failures going into the next line. It
// is safe for concurrent use.
type Outage struct {
	throttle *Throttle
	now      func() time.Time // of outages' durations

	mu sync.Mutex
	// failures counts the failures since the last success, the first of
	// them at since; logged says whether a line was allowed since.
	failures int
	since    time.Time
	logged   bool
}

// NewOutage returns an Outage allowing a line per key at most once every,
// timing outages by now (nil: time.Now); opts configure the throttle of its
// lines, WithClock its clock. The two clocks are apart so that a test can
// move the lines' by hand while outages take real time. Its keys are never
// forgotten, as suits a small fixed set of them.
func NewOutage(every time.Duration, now func() time.Time, opts ...Option) *Outage {
	if now == nil {
		now = time.Now
	}
	return &Outage{throttle: New(every, 0, opts...), now: now}
}

// Failed counts a failure of kind key and reports whether to log a line for
// it now (log), with how many failures of that kind the line stands for,
// this one included, and when the earliest of them came, as Throttle.Allow.
func (o *Outage) Failed(key string) (n int, since time.Time, log bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.count()
	return o.line(key)
}

// Count counts a failure without a line of its own: for a caller whose
// lines, if any, come from elsewhere (Line).
func (o *Outage) Count() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.count()
}

// Line reports, as Failed does, whether to log a line of kind key now,
// without counting a failure: for lines about failures counted by Count.
func (o *Outage) Line(key string) (n int, since time.Time, log bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.line(key)
}

// Failures returns the failures counted since the last success.
func (o *Outage) Failures() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.failures
}

// Recovered notes a success and returns the failures since the previous
// one and how long ago the first of them came, to the millisecond; log
// reports whether the recovery line is due: there were failures and one of
// their lines was logged. It starts a new outage either way.
func (o *Outage) Recovered() (failures int, downFor time.Duration, log bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	failures, log = o.failures, o.failures > 0 && o.logged
	if failures > 0 {
		downFor = o.now().Sub(o.since).Round(time.Millisecond)
	}
	o.failures, o.logged = 0, false
	return failures, downFor, log
}

func (o *Outage) count() {
	if o.failures == 0 {
		o.since = o.now()
	}
	o.failures++
}

func (o *Outage) line(key string) (int, time.Time, bool) {
	n, since, ok := o.throttle.Allow(key)
	if ok {
		o.logged = true
	}
	return n, since, ok
}
