package falsim

import "net/http"

// serveResult answers the model output with 200, or the error the run ended
// with (422 {"detail": [...]}, or 499 when cancelled); 400 before completion.
func (s *Sim) serveResult(w http.ResponseWriter, _ *http.Request, req *request) {
	s.mu.Lock()
	final := req.final
	s.mu.Unlock()

	w.Header().Set("x-fal-request-id", req.id)
	if final == nil {
		writeJSON(w, http.StatusBadRequest, detailBody{Detail: "Request is still in progress"})
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
