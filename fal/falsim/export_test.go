package falsim

import "time"

// SetNowForTest replaces the clock behind webhook timestamps and log times.
// Call it before the simulator receives its first request.
func (s *Sim) SetNowForTest(now func() time.Time) { s.now = now }
