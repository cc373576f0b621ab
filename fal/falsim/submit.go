package falsim

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// maxInputBytes bounds a submitted input.
const maxInputBytes = 10 << 20

type submitResponse struct {
	Status           string `json:"status"`
	RequestID        string `json:"request_id"`
	GatewayRequestID string `json:"gateway_request_id"`
	ResponseURL      string `json:"response_url"`
	StatusURL        string `json:"status_url"`
	CancelURL        string `json:"cancel_url"`
	QueuePosition    int    `json:"queue_position"`
}

// serveSubmit serves POST /{endpoint id}?fal_webhook=...&fal_max_queue_length=...
func (s *Sim) serveSubmit(w http.ResponseWriter, r *http.Request, segments []string) {
	endpointID := strings.Join(segments, "/")
	appID, ok := appIDOf(segments)
	if !ok {
		writeJSON(w, http.StatusNotFound, detailBody{Detail: "Not Found"})
		return
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxInputBytes))
	if err != nil {
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			writeJSON(w, http.StatusRequestEntityTooLarge, detailBody{Detail: "Request body too large"})
			return
		}
		writeJSON(w, http.StatusBadRequest, detailBody{Detail: "Could not read request body"})
		return
	}
	if d, ok := checkSubmit(r.URL.Query(), body); !ok {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": []errorDetail{d}})
		return
	}
	webhookURL := r.URL.Query().Get("fal_webhook")
	maxQueue := -1
	if v := r.URL.Query().Get("fal_max_queue_length"); v != "" {
		maxQueue, _ = strconv.Atoi(v) // checked by checkSubmit
	}

	p := s.cfg.drawPlan(s.submissions.Add(1))
	if p.rejectStatus != 0 {
		s.count(func(st *Stats) { st.RejectedSubmissions++ })
		writeRejection(w, p.rejectStatus)
		return
	}

	id := uuid.NewString()
	base := baseURL(r)
	out, err := s.buildOutcome(id, s.filesURL(base), body, p)
	if err != nil {
		s.logger.Error("simulate model run", "request_id", id, "error", err)
		writeJSON(w, http.StatusInternalServerError, detailBody{Detail: "Internal server error"})
		return
	}
	req := &request{
		id:         id,
		endpointID: endpointID,
		appID:      appID,
		webhookURL: webhookURL,
		plan:       p,
		outcome:    out,
		gatewayID:  id,
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		writeJSON(w, http.StatusServiceUnavailable, detailBody{Detail: "Simulator is shutting down"})
		return
	}
	// Requests come in here only, so sweeping here too keeps the count
	// bounded even when nobody reads an old request again.
	s.sweepLocked()
	if maxQueue >= 0 && s.queuedForEndpointLocked(endpointID) > maxQueue {
		s.stats.RejectedSubmissions++
		s.mu.Unlock()
		writeJSON(w, http.StatusTooManyRequests, detailBody{Detail: "Queue length limit reached for " + endpointID})
		return
	}
	s.stats.Submissions++
	if webhookURL != "" {
		if s.webhookURLs[webhookURL] > 0 {
			s.stats.DuplicateSubmissions++
		}
		s.webhookURLs[webhookURL]++
	}
	s.enqueueLocked(req)
	position := s.queuePositionLocked(req)
	s.mu.Unlock()
	if s.cfg.OnSubmit != nil {
		s.cfg.OnSubmit(id, webhookURL)
	}

	s.logger.Debug("request submitted", "request_id", id, "endpoint", endpointID, "run_time", p.runTime)
	responseURL, statusURL, cancelURL := requestURLs(base, appID, id)
	w.Header().Set("x-fal-request-id", id)
	writeJSON(w, http.StatusOK, submitResponse{
		Status:           "IN_QUEUE",
		RequestID:        id,
		GatewayRequestID: id,
		ResponseURL:      responseURL,
		StatusURL:        statusURL,
		CancelURL:        cancelURL,
		QueuePosition:    position,
	})
}

// appIDOf returns the owner/app part of an endpoint id; ids under the
// workflows/ and comfy/ namespaces keep one more segment, as fal's clients do.
func appIDOf(segments []string) (string, bool) {
	n := 2
	if segments[0] == "workflows" || segments[0] == "comfy" {
		n = 3
	}
	if len(segments) < n {
		return "", false
	}
	return strings.Join(segments[:n], "/"), true
}

// checkSubmit validates what the queue itself checks at submit; the input's
// fields are the model's business, checked when it runs.
func checkSubmit(query url.Values, body []byte) (errorDetail, bool) {
	if !json.Valid(body) {
		return newErrorDetail("json_invalid", "JSON decode error"), false
	}
	if strings.TrimLeft(string(body), " \t\r\n")[0] != '{' {
		return newErrorDetail("model_attributes_type", "Input should be a valid dictionary or object to extract fields from"), false
	}
	if v := query.Get("fal_webhook"); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			d := newErrorDetail("url_parsing", "Input should be a valid URL")
			d.Loc = []string{"query", "fal_webhook"}
			return d, false
		}
	}
	if v := query.Get("fal_max_queue_length"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			d := newErrorDetail("int_parsing", "Input should be a non-negative integer")
			d.Loc = []string{"query", "fal_max_queue_length"}
			return d, false
		}
	}
	return errorDetail{}, true
}

// writeRejection answers a submit refused by fault injection. None carries
// x-fal-request-id: nothing was queued, so clients may retry safely.
func writeRejection(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
		writeJSON(w, status, detailBody{Detail: "Too many requests, retry later"})
	case http.StatusInternalServerError:
		w.Header().Set("X-Fal-Error-Type", "internal_error")
		writeJSON(w, status, map[string]string{"detail": "Internal server error", "error_type": "internal_error"})
	default:
		writeJSON(w, status, detailBody{Detail: http.StatusText(status)})
	}
}
