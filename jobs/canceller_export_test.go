package jobs

import "time"

// WithRecordTimeout sets how long c waits for fal's answer to a cancel and
// for recording it, so that a test of a slow fal need not wait the default.
func (c *Canceller) WithRecordTimeout(d time.Duration) *Canceller {
	c.recordTimeout = d
	return c
}
