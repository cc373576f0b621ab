package notify

import (
	"time"

	"github.com/easelhq/easel/internal/logthrottle"
)

// SetWindow changes how long p coalesces keys, so that tests can count on a
// batch; call it before the first Publish.
func SetWindow(p *Publisher, d time.Duration) { p.window = d }

// MaxPayload exposes the payload limit the batches are split at.
const MaxPayload = maxPayload

// SetFailureLogClock makes the throttle of l's failure WARNs read now, so
// that tests move it by hand; call it before Run.
func SetFailureLogClock(l *Listener, now func() time.Time) {
	l.log = newConnectionLog(l.logger, l.channel, time.Now, logthrottle.WithClock(now))
}

// FailureLogEvery is how often at most a Listener warns of failures.
const FailureLogEvery = failureLogEvery
