package falsim

import "time"

// SetNowForTest replaces the clock behind webhook timestamps, log times and
// Config.Retention. Call it before the simulator receives its first request.
func (s *Sim) SetNowForTest(now func() time.Time) { s.now = now }

// Retired reports whether the request id has completed with no webhook
// delivery under way, so that its Config.Retention runs.
func (s *Sim) Retired(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	req := s.requests[id]
	return req != nil && !req.retiredAt.IsZero()
}

// Kept counts the requests the simulator holds, and the fal_webhook URLs it
// remembers, forgotten or not by a sweep yet.
func (s *Sim) Kept() (requests, webhookURLs int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests), len(s.webhookURLs)
}
