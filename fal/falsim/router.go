package falsim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

type detailBody struct {
	Detail string `json:"detail"`
}

type statusBody struct {
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}

var notFoundBody = statusBody{Status: "NOT_FOUND", Detail: "Request not found"}

// serveQueue routes the queue API, whose endpoint ids have a variable number
// of segments: POST /{endpoint id} submits, and
// /{owner}/{app}/requests/{id}[/{action}] reads or cancels.
func (s *Sim) serveQueue(w http.ResponseWriter, r *http.Request) {
	segments := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if slices.Contains(segments, "") {
		writeJSON(w, http.StatusNotFound, detailBody{Detail: "Not Found"})
		return
	}
	if !authorized(r) {
		writeJSON(w, http.StatusUnauthorized, detailBody{Detail: "No user found for Key ID and Secret"})
		return
	}
	if i := slices.Index(segments, "requests"); i >= 2 && i+1 < len(segments) {
		s.serveRequest(w, r, strings.Join(segments[:i], "/"), segments[i+1], strings.Join(segments[i+2:], "/"))
		return
	}
	if !allowMethod(w, r, http.MethodPost) {
		return
	}
	s.serveSubmit(w, r, segments)
}

// authorized accepts any non-empty key: the simulator has one account.
func authorized(r *http.Request) bool {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Key ")
	return ok && strings.TrimSpace(key) != ""
}

// serveRequest serves the routes under {prefix}/requests/{id}, where prefix
// is the owner/app id or the full endpoint id of the request.
func (s *Sim) serveRequest(w http.ResponseWriter, r *http.Request, prefix, id, action string) {
	var (
		method string
		serve  func(http.ResponseWriter, *http.Request, *request)
	)
	switch action {
	case "", "response":
		method, serve = http.MethodGet, s.serveResult
	case "status":
		method, serve = http.MethodGet, s.serveStatus
	case "status/stream":
		method, serve = http.MethodGet, s.serveStream
	case "cancel":
		method, serve = http.MethodPut, s.serveCancel
	default:
		writeJSON(w, http.StatusNotFound, detailBody{Detail: "Not Found"})
		return
	}
	if !allowMethod(w, r, method) {
		return
	}
	s.mu.Lock()
	s.sweepLocked()
	req := s.requests[id]
	s.mu.Unlock()
	if req == nil || (prefix != req.appID && prefix != req.endpointID) {
		writeJSON(w, http.StatusNotFound, notFoundBody)
		return
	}
	serve(w, r, req)
}

func allowMethod(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method || (method == http.MethodGet && r.Method == http.MethodHead) {
		return true
	}
	w.Header().Set("Allow", method)
	writeJSON(w, http.StatusMethodNotAllowed, detailBody{Detail: "Method Not Allowed"})
	return false
}

// baseURL is the simulator's address as the client reached it.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// filesURL is the base URL of the image URLs in results, given base, the
// simulator's address as the client reached it.
func (s *Sim) filesURL(base string) string {
	if s.cfg.FilesURL != "" {
		return s.cfg.FilesURL
	}
	return base + "/files"
}

// requestURLs are the response, status and cancel URLs of a request.
func requestURLs(base, appID, id string) (response, status, cancel string) {
	response = base + "/" + appID + "/requests/" + id
	return response, response + "/status", response + "/cancel"
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"detail": "Internal server error"}`)
	}
	writeRawJSON(w, code, b)
}

func writeRawJSON(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
