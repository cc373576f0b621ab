package api

import "time"

// SetAuthClock makes a's key cache and its touch of last_used_at read now
// instead of time.Now, so tests move time by hand. Call it before a serves.
func SetAuthClock(a *Auth, now func() time.Time) {
	a.now = now
}
