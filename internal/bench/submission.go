package bench

import (
	"fmt"
	"net/url"
	"path"
	"sync"
	"time"

	"github.com/google/uuid"
)

// enqueue → submitted ends when the simulator accepts the generation's
// submission, which falsim reports through Config.OnSubmit: the moment fal
// has the request, for every generation. generations.submitted_at is
// Easel's record of fal's answer instead, which store.RecordSubmittedReplacing
// skips when the webhook finished the row first (often, at zero simulated
// latency); the webhook's arrival, the other stamp every generation has,
// comes after the model's run and the delivery. Neither is "fal accepted
// the submission".

// acceptances holds when the simulator accepted each generation's first
// submission, in this process's clock.
type acceptances struct {
	mu      sync.Mutex
	at      map[uuid.UUID]time.Time
	unknown int // submissions whose webhook URL named no generation
}

func newAcceptances() *acceptances { return &acceptances{at: map[uuid.UUID]time.Time{}} }

// record is falsim.Config.OnSubmit. A generation submitted again (a retry
// after a lost answer) keeps its first acceptance: fal had it from then on.
func (a *acceptances) record(_, webhookURL string) {
	now := time.Now()
	id, ok := generationOfWebhook(webhookURL)
	a.mu.Lock()
	defer a.mu.Unlock()
	if !ok {
		a.unknown++
		return
	}
	if _, seen := a.at[id]; !seen {
		a.at[id] = now
	}
}

// of returns when generation id's submission was accepted.
func (a *acceptances) of(id uuid.UUID) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.at[id]
	return t, ok
}

// generationOfWebhook reads the generation a webhook URL is for: Easel
// submits each generation with its own, …/webhooks/fal/{id}.
func generationOfWebhook(webhookURL string) (uuid.UUID, bool) {
	u, err := url.Parse(webhookURL)
	if err != nil || path.Dir(u.Path) != "/webhooks/fal" {
		return uuid.UUID{}, false
	}
	id, err := uuid.Parse(path.Base(u.Path))
	return id, err == nil
}

// createdRow is a generation's phase and created_at.
type createdRow struct {
	id        uuid.UUID
	phase     string
	createdAt time.Time
}

// phaseDelays are one phase's enqueue → submitted delays.
type phaseDelays struct {
	generations int
	delays      []time.Duration
}

// submissionDelays returns each phase's delays from created_at (Postgres's
// clock) to the acceptance of the submission (this process's clock, moved
// to Postgres's by offset). A generation without an acceptance has no
// delay: it is counted, never taken for zero.
func submissionDelays(rows []createdRow, accepted func(uuid.UUID) (time.Time, bool), offset time.Duration) map[string]*phaseDelays {
	phases := map[string]*phaseDelays{}
	for _, r := range rows {
		ph := phases[r.phase]
		if ph == nil {
			ph = &phaseDelays{}
			phases[r.phase] = ph
		}
		ph.generations++
		if at, ok := accepted(r.id); ok {
			ph.delays = append(ph.delays, at.Add(offset).Sub(r.createdAt))
		}
	}
	return phases
}

// setSubmissionFigures sets res's enqueue → submitted figures from the
// phases' delays, with their sample counts. A phase without a sample is an
// error: 0 ms would read as a perfect result.
func setSubmissionFigures(res *Result, phases map[string]*phaseDelays) error {
	figures := []struct {
		phase, what string
		p           float64
		ms          *float64
		samples     *int
	}{
		{"idle", "idle probes", 0.5, &res.EnqueueToSubmittedP50Ms, &res.EnqueueToSubmittedSamples},
		{"load", "load", 0.5, &res.LoadedEnqueueToSubmittedP50Ms, &res.LoadedEnqueueToSubmittedSamples},
		{"burst", "idle bursts", 1, &res.BurstEnqueueToSubmittedMaxMs, &res.BurstEnqueueToSubmittedSamples},
	}
	for _, f := range figures {
		ph := phases[f.phase]
		if ph == nil || len(ph.delays) == 0 {
			generations := 0
			if ph != nil {
				generations = ph.generations
			}
			return fmt.Errorf("enqueue → submitted, %s: the simulator reported the submission of none of their %d generations", f.what, generations)
		}
		*f.samples = len(ph.delays)
		*f.ms = percentileMs(ph.delays, f.p)
		if missing := ph.generations - len(ph.delays); missing > 0 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("enqueue → submitted, %s: the simulator reported the submission of %d of %d generations; the figure is of those",
				f.what, len(ph.delays), ph.generations))
		}
	}
	return nil
}
