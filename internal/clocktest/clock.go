// Package clocktest is a clock that tests move by hand, so that a test
// awaiting something time-based neither sleeps nor races the wall clock.
package clocktest

import (
	"sync"
	"time"
)

// Clock is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a Clock that reads a fixed instant until advanced.
func New() *Clock { return At(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) }

// At returns a Clock that reads t until advanced.
func At(t time.Time) *Clock { return &Clock{now: t} }

// Now is the clock's time; pass the method value where a func() time.Time
// is wanted.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
