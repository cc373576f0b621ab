package jobs

import "github.com/google/uuid"

// RememberedUnrecorded exposes the requests w remembers as fal's unrecorded
// answers for generation id, newest first, to jobs_test.
func (w *SubmitGenerationWorker) RememberedUnrecorded(id uuid.UUID) []string {
	return w.unrecorded.requests(id)
}
