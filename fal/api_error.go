package fal

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxDetailLen bounds APIError.Detail and ErrorDetail messages: a list of
// validation errors can be long, and these end up in logs and table rows.
const maxDetailLen = 512

// maxErrorTypeLen bounds APIError.ErrorType, which fal keeps to short
// identifiers such as "runner_scheduling_failure".
const maxErrorTypeLen = 64

// APIError is a non-2xx answer from fal's queue API.
type APIError struct {
	// Op is the client operation: "submit", "status", "result" or "cancel".
	Op         string
	StatusCode int

	// Detail summarises fal's "detail": the string itself, or the
	// validation errors as "field: message" joined by "; ".
	Detail string

	// Body is the raw response body, capped at 64 KiB.
	Body []byte

	// ErrorType is the body's error_type or the X-Fal-Error-Type header.
	ErrorType string

	// RetryAfter is the parsed Retry-After header; 0 if absent.
	RetryAfter time.Duration

	// TimeoutType is the X-Fal-Request-Timeout-Type header; "user" means
	// the request's own deadline expired.
	TimeoutType string

	// RequestID is the x-fal-request-id header, if present.
	RequestID string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "fal %s: HTTP %d", e.Op, e.StatusCode)
	if e.ErrorType != "" {
		b.WriteString(" " + e.ErrorType)
	}
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	return b.String()
}

// Retryable reports whether resubmitting may succeed: on 408, 409, 429 and
// 5xx, except a 504 caused by the request's own deadline, which fal does not
// retry either. Authentication failures and other 4xx are final.
func (e *APIError) Retryable() bool {
	switch {
	case e.StatusCode == http.StatusGatewayTimeout && e.TimeoutType == "user":
		return false
	case e.StatusCode == http.StatusRequestTimeout,
		e.StatusCode == http.StatusConflict,
		e.StatusCode == http.StatusTooManyRequests:
		return true
	default:
		return e.StatusCode >= 500
	}
}

// newAPIError builds the error for resp, whose body has been read into body.
// key is removed from the body so that a server echoing it cannot leak it
// into logs or the database; it is removed again from what the body says
// once decoded, where JSON escapes can no longer hide it.
func newAPIError(op string, resp *http.Response, body []byte, key string) *APIError {
	if key != "" {
		body = bytes.ReplaceAll(body, []byte(key), []byte(redacted))
	}
	raw := decodeErrorBody(body)
	raw.errorType = cmp.Or(raw.errorType, resp.Header.Get("X-Fal-Error-Type"))
	summary := raw.tidy(key)
	return &APIError{
		Op:          op,
		StatusCode:  resp.StatusCode,
		Detail:      summary.message,
		Body:        body,
		ErrorType:   summary.errorType,
		RetryAfter:  parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		TimeoutType: resp.Header.Get("X-Fal-Request-Timeout-Type"),
		RequestID:   resp.Header.Get("X-Fal-Request-Id"),
	}
}

// redacted stands for a removed secret.
const redacted = "[REDACTED]"

// parseRetryAfter reads a Retry-After value in seconds or as an HTTP date.
func parseRetryAfter(value string, now time.Time) time.Duration {
	if value == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(value, 10, 32); err == nil {
		return max(0, time.Duration(secs)*time.Second)
	}
	if at, err := http.ParseTime(value); err == nil {
		return max(0, at.Sub(now))
	}
	return 0
}

// errorSummary is what fal's error bodies (protocol §1.7) say, flattened.
type errorSummary struct {
	// errorType is an infrastructure error's error_type.
	errorType string

	// code is the first validation error's type, e.g. "less_than_equal".
	code string

	// message is a one-line human summary.
	message string
}

// summarizeError reads an error body (see decodeErrorBody) into one-line,
// bounded fields.
func summarizeError(body []byte) errorSummary {
	return decodeErrorBody(body).tidy("")
}

// decodeErrorBody reads an error body: {"detail": "..."} or
// {"detail": [{"loc": [...], "msg": "...", "type": "..."}]}, with an optional
// error_type. A body that is not JSON is summarised as text, so that a proxy's
// "Bad Gateway" page still says something. The fields are as fal wrote them:
// tidy them before use.
func decodeErrorBody(body []byte) errorSummary {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		text, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
		return errorSummary{message: text}
	}

	var s errorSummary
	_ = json.Unmarshal(fields["error_type"], &s.errorType) // a non-string error_type is ignored

	detail := bytes.TrimSpace(fields["detail"])
	var (
		text  string
		items []json.RawMessage
	)
	switch {
	case len(detail) == 0 || string(detail) == "null":
	case json.Unmarshal(detail, &text) == nil:
		s.message = text
	case json.Unmarshal(detail, &items) == nil:
		s.code, s.message = summarizeDetailItems(items)
	default:
		s.message = string(detail)
	}
	return s
}

// tidy makes each field one line of valid UTF-8 without NUL, bounded, so that
// it can go into a log line and a Postgres text column. secret, unless empty,
// is redacted first, so that truncation cannot leave part of it.
func (s errorSummary) tidy(secret string) errorSummary {
	hide := func(v string) string {
		if secret == "" {
			return v
		}
		return strings.ReplaceAll(v, secret, redacted)
	}
	return errorSummary{
		errorType: oneLine(hide(s.errorType), maxErrorTypeLen),
		code:      oneLine(hide(s.code), maxErrorTypeLen),
		message:   oneLine(hide(s.message), maxDetailLen),
	}
}

// summarizeDetailItems returns the first item's type and "field: msg" for
// every item.
func summarizeDetailItems(items []json.RawMessage) (code, message string) {
	parts := make([]string, 0, len(items))
	for _, raw := range items {
		var item struct {
			Loc  []json.RawMessage `json:"loc"`
			Msg  string            `json:"msg"`
			Type string            `json:"type"`
		}
		if json.Unmarshal(raw, &item) != nil {
			parts = append(parts, string(raw))
			continue
		}
		if code == "" {
			code = item.Type
		}
		msg := cmp.Or(item.Msg, item.Type)
		if field := locPath(item.Loc); field != "" {
			msg = field + ": " + msg
		}
		parts = append(parts, msg)
	}
	return code, strings.Join(parts, "; ")
}

// locPath turns a validation error location such as ["body", "loras", 0,
// "scale"] into "loras.0.scale". The leading "body" says nothing to a caller
// who only sent a body.
func locPath(loc []json.RawMessage) string {
	parts := make([]string, 0, len(loc))
	for i, raw := range loc {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			s = string(bytes.TrimSpace(raw))
		}
		if i == 0 && s == "body" {
			continue
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ".")
}

// cleanDetail makes s a detail message fit for a log line and a Postgres
// text column: one line of valid UTF-8 without NUL, of at most maxDetailLen
// bytes (see oneLine).
func cleanDetail(s string) string {
	return oneLine(s, maxDetailLen)
}

// oneLine returns s as valid UTF-8 with every control or space character,
// line breaks and NUL included, turned into a space, trimmed, and shortened
// to maxLen bytes plus "…" without splitting a rune.
func oneLine(s string, maxLen int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, string(utf8.RuneError)))
	s = strings.TrimSpace(s)
	if len(s) <= maxLen {
		return s
	}
	cut := maxLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimRightFunc(s[:cut], unicode.IsSpace) + "…"
}
