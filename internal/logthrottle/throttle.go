// Package logthrottle keeps a flood of like events from burying the log:
// per key, one line at a time, at most one an interval, each counting the
// events it stands for.
package logthrottle

import (
	"sync"
	"time"
)

// Throttle decides, per key, which events get a log line: a key's first
// event at once, then its first event `every` or more after its last line.
// The events in between are counted into that next line. It is safe for
// concurrent use.
type Throttle struct {
	every, forget time.Duration
	summarize     bool
	now           func() time.Time

	mu        sync.Mutex
	keys      map[string]*keyState
	lastSweep time.Time
}

type keyState struct {
	// lastLine is when the key's last line was allowed or, before its
	// first, when the key was first seen.
	lastLine time.Time
	// unlogged counts the events since lastLine's line, and firstUnlogged
	// is the time of the earliest of them.
	unlogged      int
	firstUnlogged time.Time
}

// Option configures a Throttle.
type Option func(*Throttle)

// WithClock makes the Throttle read now instead of time.Now, so that tests
// move its time by hand.
func WithClock(now func() time.Time) Option {
	return func(t *Throttle) { t.now = now }
}

// Summarize makes every line wait until its events span `every`: a line
// comes with the first event `every` or more after the first one it counts,
// a key's first line included. It suits a summary of events each already
// logged on their own, which a line at the first event would only repeat.
func Summarize() Option {
	return func(t *Throttle) { t.summarize = true }
}

// New returns a Throttle allowing a line per key at most once every.
//
// A key is forgotten once its last line is forget old (looked for at most
// once an every), so that the state stays as small as the keys seen
// lately; the events counted since that line are then reported by no line.
// A forget of zero or less keeps every key, for a small fixed set of them.
func New(every, forget time.Duration, opts ...Option) *Throttle {
	t := &Throttle{every: every, forget: forget, now: time.Now, keys: map[string]*keyState{}}
	for _, opt := range opts {
		opt(t)
	}
	return t
}

// Allow records an event of key and reports whether to log a line for it
// now (ok), with how many events the line stands for, this one included,
// and when the earliest of them happened.
func (t *Throttle) Allow(key string) (n int, since time.Time, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	defer t.sweep(now) // after key's own events are reported
	k, seen := t.keys[key]
	if !seen {
		k = &keyState{lastLine: now}
		t.keys[key] = k
	}
	if k.unlogged == 0 {
		k.firstUnlogged = now
	}
	k.unlogged++
	var due bool
	switch {
	case t.summarize:
		due = now.Sub(k.firstUnlogged) >= t.every
	default:
		due = !seen || now.Sub(k.lastLine) >= t.every
	}
	if !due {
		return 0, time.Time{}, false
	}
	n, since = k.unlogged, k.firstUnlogged
	k.lastLine, k.unlogged = now, 0
	return n, since, true
}

// sweep forgets the keys whose last line is forget old, at most once an
// every.
func (t *Throttle) sweep(now time.Time) {
	if t.forget <= 0 || now.Sub(t.lastSweep) < t.every {
		return
	}
	t.lastSweep = now
	for key, k := range t.keys {
		if now.Sub(k.lastLine) >= t.forget {
			delete(t.keys, key)
		}
	}
}
