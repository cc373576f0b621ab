package fal

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Webhook statuses. They say whether the app answered 200, and are not the
// queue's status vocabulary.
const (
	WebhookStatusOK    = "OK"
	WebhookStatusError = "ERROR"
)

// WebhookPayload is the body fal posts to a request's webhook URL.
type WebhookPayload struct {
	RequestID        string `json:"request_id"`
	GatewayRequestID string `json:"gateway_request_id"`

	// Status is WebhookStatusOK or WebhookStatusError.
	Status string `json:"status"`

	// Payload is the model output on OK and the error body, such as
	// {"detail": [...]}, on ERROR. Its bytes are kept as sent, so numbers
	// beyond int64 (seeds) survive. It is nil when fal sent null.
	Payload json.RawMessage `json:"payload"`

	// Error is fal's error text on ERROR, e.g. "Invalid status code: 422",
	// made one bounded line (see ParseWebhook).
	Error string `json:"error"`

	// PayloadError is set when fal could not serialise the output; Payload
	// is then null and the result must be fetched from the queue. It is
	// made one bounded line, as Error is.
	PayloadError string `json:"payload_error"`
}

// ParseWebhook decodes a webhook body. Verify the signature over the same
// bytes first.
//
// Every string it returns can go into a Postgres text column. request_id,
// which names the request a result is applied to, must be valid UTF-8
// without \u0000 or an unpaired UTF-16 surrogate escape (which
// encoding/json would silently read as U+FFFD, naming another request).
// gateway_request_id, which Easel does not use, is dropped if it is not;
// error and payload_error are made one bounded line, as APIError.Detail is.
func ParseWebhook(body []byte) (*WebhookPayload, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, errors.New("parse fal webhook: body is not a JSON object")
	}

	var wire struct {
		RequestID        json.RawMessage `json:"request_id"`
		GatewayRequestID json.RawMessage `json:"gateway_request_id"`
		Status           string          `json:"status"`
		Payload          json.RawMessage `json:"payload"`
		Error            string          `json:"error"`
		PayloadError     string          `json:"payload_error"`
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	if err := dec.Decode(&wire); err != nil {
		return nil, fmt.Errorf("parse fal webhook: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("parse fal webhook: data after the JSON object")
	}

	requestID, err := webhookID("request_id", wire.RequestID)
	if err != nil {
		return nil, fmt.Errorf("parse fal webhook: %w", err)
	}
	if requestID == "" {
		return nil, errors.New("parse fal webhook: request_id is missing")
	}
	gatewayRequestID, err := webhookID("gateway_request_id", wire.GatewayRequestID)
	var notText *notTextError
	if errors.As(err, &notText) {
		// Informational: a result must not be lost over it.
		gatewayRequestID, err = "", nil
	}
	if err != nil {
		return nil, fmt.Errorf("parse fal webhook: %w", err)
	}
	if wire.Status != WebhookStatusOK && wire.Status != WebhookStatusError {
		return nil, fmt.Errorf("parse fal webhook: status %q is neither %q nor %q",
			wire.Status, WebhookStatusOK, WebhookStatusError)
	}

	p := &WebhookPayload{
		RequestID:        requestID,
		GatewayRequestID: gatewayRequestID,
		Status:           wire.Status,
		Payload:          wire.Payload,
		Error:            cleanDetail(wire.Error),
		PayloadError:     cleanDetail(wire.PayloadError),
	}
	if string(p.Payload) == "null" {
		p.Payload = nil
	}
	return p, nil
}

// notTextError is an identifier that is a JSON string but cannot be kept as
// text exactly as sent.
type notTextError struct {
	field, problem string
}

func (e *notTextError) Error() string { return e.field + " " + e.problem }

// webhookID decodes the identifier field from raw, a JSON string, null or
// nothing ("").
func webhookID(field string, raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] != '"' {
		return "", fmt.Errorf("%s is not a string", field)
	}
	switch {
	case !utf8.Valid(raw):
		return "", &notTextError{field, "is not valid UTF-8"}
	case findJSONEscape(raw, escapeNUL) != 0:
		return "", &notTextError{field, "contains the NUL character (\\u0000)"}
	case findJSONEscape(raw, escapeLoneSurrogate) != 0:
		return "", &notTextError{field, "contains an unpaired UTF-16 surrogate escape such as \\ud800"}
	}
	var id string
	if err := json.Unmarshal(raw, &id); err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	return id, nil
}

// ErrorDetail summarises why a request failed. code is the first validation
// error's type (e.g. "less_than_equal") or the infrastructure error_type;
// message reads like "num_images: Input should be less than or equal to 4",
// or is fal's string detail, falling back to Error and PayloadError. Both are
// empty when the delivery reports no problem.
func (p *WebhookPayload) ErrorDetail() (code, message string) {
	var s errorSummary
	if p.Status == WebhookStatusError && p.Payload != nil {
		s = summarizeError(p.Payload)
	}
	return cmp.Or(s.code, s.errorType), cleanDetail(cmp.Or(s.message, p.Error, p.PayloadError))
}
