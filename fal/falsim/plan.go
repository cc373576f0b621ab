package falsim

import (
	"math/rand/v2"
	"time"
)

// maxImages is fooocus' upper bound for num_images.
const maxImages = 4

// plan holds every random choice made for one submission. Drawing them all
// up front, in a fixed order, from a generator seeded by (seed, submission
// number) is what makes a simulator run reproducible.
type plan struct {
	// rejectStatus is 0 when the submit is accepted, else 429 or a 5xx.
	rejectStatus int

	runTime      time.Duration
	fail         bool
	failure      int // index into modelFailures when fail
	payloadError bool
	bounce       bool
	nsfw         [maxImages]bool
	variant      int // gradient of the generated images

	webhookDrop      bool
	webhookDuplicate bool

	nsfwUnknown bool
	nsfwShape   nsfwShape // how has_nsfw_concepts is malformed when nsfwUnknown
}

// submitErrorStatuses are the 5xx answers of a failed submit: all of them are
// retryable, none carries x-fal-request-id, as from fal's ingress.
var submitErrorStatuses = []int{500, 502, 503, 504}

func (c Config) drawPlan(submission uint64) plan {
	r := rand.New(rand.NewPCG(uint64(c.Seed), submission))
	hit := func(rate float64) bool { return r.Float64() < rate }

	var p plan
	submitError := hit(c.SubmitErrorRate)
	submitErrorStatus := submitErrorStatuses[r.IntN(len(submitErrorStatuses))]
	rateLimited := hit(c.RateLimitRate)
	switch {
	case submitError:
		p.rejectStatus = submitErrorStatus
	case rateLimited:
		p.rejectStatus = 429
	}
	p.runTime = c.Latency.draw(r)
	p.fail = hit(c.FailRate)
	p.failure = r.IntN(len(modelFailures))
	p.payloadError = hit(c.PayloadErrorRate)
	p.bounce = hit(c.BounceRate)
	for i := range p.nsfw {
		p.nsfw[i] = hit(c.NSFWRate)
	}
	p.variant = r.IntN(len(gradients))
	p.webhookDrop = hit(c.WebhookDropRate)
	p.webhookDuplicate = hit(c.WebhookDuplicateRate)
	// Drawn after every older choice, so that a seed replays the runs it
	// made before NSFWUnknownRate existed.
	p.nsfwUnknown = hit(c.NSFWUnknownRate)
	p.nsfwShape = nsfwShape(r.IntN(int(nsfwShapeCount)))
	return p
}
