package api

import "time"

// SetPendingClock makes the pending cap's cache of h (see WithMaxPending)
// read now instead of time.Now, so tests move time by hand.
func SetPendingClock(h *Handler, now func() time.Time) { h.pending.Now = now }
