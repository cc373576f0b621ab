package webhooks

import (
	"time"

	"github.com/easelhq/easel/internal/logthrottle"
)

// RejectionLogEvery is how often at most the deliveries rejected for one
// reason are logged at WARN.
const RejectionLogEvery = rejectionLogEvery

// SetRejectionLogClock makes the throttle of r's rejected deliveries'
// lines read now instead of time.Now, so that tests move its time by hand.
// Call it before Register.
func SetRejectionLogClock(r *Receiver, now func() time.Time) {
	r.rejections = newRejectionLog(logthrottle.WithClock(now))
}
