package notify

import "time"

// SetWindow changes how long p coalesces keys, so that tests can count on a
// batch; call it before the first Publish.
func SetWindow(p *Publisher, d time.Duration) { p.window = d }

// MaxPayload exposes the payload limit the batches are split at.
const MaxPayload = maxPayload
