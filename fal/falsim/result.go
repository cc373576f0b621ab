package falsim

import (
	"fmt"
	"net/http"
)

// SetResultErrorStatus makes the result URL of every finished request
// answer status, with a {"detail": ...} body, while its status stays
// COMPLETED: fal's storage failing (5xx), or fal no longer holding the
// result (404, 410). 0 turns the fault off, and the results are served
// again. A status outside 400-599 is refused and changes nothing.
func (s *Sim) SetResultErrorStatus(status int) error {
	if status != 0 && (status < 400 || status > 599) {
		return fmt.Errorf("result error status %d is not 0 or an HTTP error status (400-599)", status)
	}
	s.mu.Lock()
	s.resultErrorStatus = status
	s.mu.Unlock()
	return nil
}

// serveResult answers the model output with 200, or the error the run ended
// with (422 {"detail": [...]}, or 499 when cancelled); 400 before completion;
// the fault's status once finished while SetResultErrorStatus set one.
func (s *Sim) serveResult(w http.ResponseWriter, _ *http.Request, req *request) {
	s.mu.Lock()
	final, faultStatus := req.final, s.resultErrorStatus
	s.mu.Unlock()

	w.Header().Set("x-fal-request-id", req.id)
	switch {
	case final == nil:
		writeJSON(w, http.StatusBadRequest, detailBody{Detail: "Request is still in progress"})
		return
	case faultStatus != 0:
		writeJSON(w, faultStatus, detailBody{Detail: http.StatusText(faultStatus)})
		return
	}
	if final.flatError {
		w.Header().Set("X-Fal-Error-Type", final.errorType)
	}
	writeRawJSON(w, final.status, final.body)
}

// serveCancel answers 202 and ends a queued or running request at once, 400
// for a completed one.
func (s *Sim) serveCancel(w http.ResponseWriter, _ *http.Request, req *request) {
	s.mu.Lock()
	completed := req.state == stateCompleted
	if !completed {
		s.logLocked(req, "INFO", "Cancellation requested")
		s.completeLocked(req, cancelledOutcome)
	}
	s.mu.Unlock()

	if completed {
		writeJSON(w, http.StatusBadRequest, statusBody{Status: "ALREADY_COMPLETED"})
		return
	}
	writeJSON(w, http.StatusAccepted, statusBody{Status: "CANCELLATION_REQUESTED"})
}
