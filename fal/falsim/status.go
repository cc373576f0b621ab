package falsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
)

type statusResponse struct {
	Status        string      `json:"status"`
	RequestID     string      `json:"request_id"`
	QueuePosition *int        `json:"queue_position,omitempty"`
	ResponseURL   string      `json:"response_url"`
	StatusURL     string      `json:"status_url"`
	CancelURL     string      `json:"cancel_url"`
	Logs          []logEntry  `json:"logs"` // null unless ?logs=1
	Metrics       *runMetrics `json:"metrics,omitempty"`
	Error         string      `json:"error,omitempty"`
	ErrorType     string      `json:"error_type,omitempty"`
}

type runMetrics struct {
	InferenceTime float64 `json:"inference_time"`
}

func (s *Sim) statusLocked(req *request, base string, withLogs bool) statusResponse {
	st := statusResponse{Status: req.state.String(), RequestID: req.id}
	st.ResponseURL, st.StatusURL, st.CancelURL = requestURLs(base, req.appID, req.id)
	if withLogs {
		st.Logs = append([]logEntry{}, req.logs...)
	}
	switch req.state {
	case stateInQueue:
		position := s.queuePositionLocked(req)
		st.QueuePosition = &position
	case stateCompleted:
		if req.final != cancelledOutcome {
			st.Metrics = &runMetrics{InferenceTime: req.final.inferenceTime}
		}
		if req.final.failed() {
			st.Error = req.final.errorText()
			st.ErrorType = req.final.errorType
		}
	}
	return st
}

func wantLogs(r *http.Request) bool {
	v := r.URL.Query().Get("logs")
	return v == "1" || v == "true"
}

// serveStatus answers 202 while the request is queued or running and 200
// once it completed, failed or not.
func (s *Sim) serveStatus(w http.ResponseWriter, r *http.Request, req *request) {
	s.mu.Lock()
	st := s.statusLocked(req, baseURL(r), wantLogs(r))
	s.mu.Unlock()
	code := http.StatusAccepted
	if st.Status == stateCompleted.String() {
		code = http.StatusOK
	}
	writeJSON(w, code, st)
}

// serveStream sends the status as a server-sent event whenever it changes,
// until COMPLETED.
func (s *Sim) serveStream(w http.ResponseWriter, r *http.Request, req *request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)

	base, withLogs := baseURL(r), wantLogs(r)
	var last []byte
	for {
		s.mu.Lock()
		st := s.statusLocked(req, base, withLogs)
		changed := changedLocked(req)
		s.mu.Unlock()

		event, err := json.Marshal(st)
		if err != nil {
			s.logger.Error("encode status event", "request_id", req.id, "error", err)
			return
		}
		if !bytes.Equal(event, last) {
			if _, err := fmt.Fprintf(w, "data: %s\n\n", event); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			last = event
		}
		if st.Status == stateCompleted.String() {
			return
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			return
		}
	}
}
