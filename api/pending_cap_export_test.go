package api

import (
	"time"

	"github.com/easelhq/easel/internal/logthrottle"
	"github.com/easelhq/easel/jobs"
)

// SetPendingClock makes the pending cap's cache of h (see WithMaxPending),
// and the throttle of its refusals' log, read now instead of time.Now, so
// tests move time by hand. Call it before h serves: it replaces the cache.
func SetPendingClock(h *Handler, now func() time.Time) {
	h.pending = jobs.NewPendingCache(now)
	h.refusals = newRefusalLog(logthrottle.WithClock(now))
}

// RefusalLogEvery and RefusalLogForget are how often at most a client's
// refused enqueues are logged, and when the client is forgotten.
const (
	RefusalLogEvery  = refusalLogEvery
	RefusalLogForget = refusalLogForget
)
