package falsim

import (
	"slices"
	"time"

	"github.com/google/uuid"
)

type requestState int

const (
	stateInQueue requestState = iota
	stateInProgress
	stateCompleted
)

func (st requestState) String() string {
	switch st {
	case stateInQueue:
		return "IN_QUEUE"
	case stateInProgress:
		return "IN_PROGRESS"
	default:
		return "COMPLETED"
	}
}

// request is one queued generation. Fields above the line are fixed at
// submit; the others are guarded by Sim.mu.
type request struct {
	id         string
	endpointID string // as submitted, e.g. fal-ai/fooocus/image-prompt
	appID      string // owner/app, the prefix of status, result and cancel URLs
	webhookURL string
	plan       plan
	outcome    *outcome

	gatewayID string
	state     requestState
	ready     bool // may be dispatched; false while backing off after a bounce
	bounced   bool
	logs      []logEntry
	timer     *time.Timer
	changed   chan struct{} // see changedLocked
	final     *outcome      // set when COMPLETED: outcome, or cancelledOutcome
	// retiredAt is when the request completed and its webhook deliveries,
	// if any, ended: Config.Retention counts from it.
	retiredAt time.Time
}

type logEntry struct {
	Message   string `json:"message"`
	Level     string `json:"level"`
	Source    string `json:"source"`
	Timestamp string `json:"timestamp"`
}

func (s *Sim) logLocked(req *request, level, message string) {
	req.logs = append(req.logs, logEntry{
		Message:   message,
		Level:     level,
		Source:    "USER",
		Timestamp: s.now().UTC().Format("2006-01-02T15:04:05.000Z"),
	})
}

// notifyLocked wakes the status streams of req, if any wait.
func notifyLocked(req *request) {
	if req.changed != nil {
		close(req.changed)
		req.changed = nil
	}
}

// changedLocked returns a channel closed at req's next visible change. It is
// made on demand: most requests are never streamed.
func changedLocked(req *request) <-chan struct{} {
	if req.changed == nil {
		req.changed = make(chan struct{})
	}
	return req.changed
}

// enqueueLocked adds a new request at the tail of the queue.
func (s *Sim) enqueueLocked(req *request) {
	req.state = stateInQueue
	req.ready = true
	s.requests[req.id] = req
	s.queue = append(s.queue, req)
	s.dispatchLocked()
}

// queuePositionLocked counts the requests ahead of req in the queue.
func (s *Sim) queuePositionLocked(req *request) int {
	return max(slices.Index(s.queue, req), 0)
}

// queuedForEndpointLocked counts the requests waiting on endpointID. A submit
// with fal_max_queue_length=N is refused when more than N already wait.
func (s *Sim) queuedForEndpointLocked(endpointID string) int {
	n := 0
	for _, req := range s.queue {
		if req.endpointID == endpointID {
			n++
		}
	}
	return n
}

// dispatchLocked starts ready requests in queue order while slots are free.
func (s *Sim) dispatchLocked() {
	firstMoved := len(s.queue)
	for i := 0; i < len(s.queue); {
		if s.cfg.MaxConcurrency > 0 && s.inProgress >= s.cfg.MaxConcurrency {
			break
		}
		req := s.queue[i]
		if !req.ready {
			i++
			continue
		}
		s.queue = slices.Delete(s.queue, i, i+1)
		firstMoved = min(firstMoved, i)
		s.startLocked(req)
	}
	// Requests behind a started one moved up the queue.
	for _, req := range s.queue[min(firstMoved, len(s.queue)):] {
		notifyLocked(req)
	}
}

func (s *Sim) startLocked(req *request) {
	req.state = stateInProgress
	s.inProgress++
	s.stats.MaxInProgress = max(s.stats.MaxInProgress, s.inProgress)
	s.logLocked(req, "INFO", "Starting image generation")
	notifyLocked(req)
	if req.plan.bounce && !req.bounced {
		s.afterLocked(req, req.plan.runTime/2, func() { s.bounceLocked(req) })
		return
	}
	s.afterLocked(req, req.plan.runTime, func() { s.completeLocked(req, req.outcome) })
}

// bounceLocked simulates a runner failure that fal retries: the request goes
// back to the head of the queue under a new gateway request id and becomes
// ready again after a back-off of half its run time.
func (s *Sim) bounceLocked(req *request) {
	s.inProgress--
	req.state = stateInQueue
	req.bounced = true
	req.ready = false
	req.gatewayID = uuid.NewString()
	s.logLocked(req, "WARN", "Runner disconnected; request re-queued")
	s.queue = slices.Insert(s.queue, 0, req)
	for _, queued := range s.queue { // all of them moved down one place
		notifyLocked(queued)
	}
	s.afterLocked(req, req.plan.runTime/2, func() {
		req.ready = true
		s.dispatchLocked()
	})
	s.dispatchLocked()
}

// completeLocked ends req with out and hands its webhook to delivery.
func (s *Sim) completeLocked(req *request, out *outcome) {
	s.stopTimerLocked(req)
	switch req.state {
	case stateInProgress:
		s.inProgress--
	case stateInQueue:
		if i := slices.Index(s.queue, req); i >= 0 {
			s.queue = slices.Delete(s.queue, i, i+1)
			for _, behind := range s.queue[i:] {
				notifyLocked(behind)
			}
		}
	case stateCompleted:
		return
	}
	req.state = stateCompleted
	req.final = out
	if out == cancelledOutcome {
		s.stats.Cancelled++
	} else {
		s.stats.Completed++
	}
	if out.failed() {
		s.logLocked(req, "ERROR", out.errorText())
	} else {
		s.logLocked(req, "INFO", "Generation finished")
	}
	notifyLocked(req)

	if req.webhookURL == "" || out == cancelledOutcome || !s.sendWebhookLocked(req) {
		s.retireLocked(req)
	}
	s.dispatchLocked()
}
