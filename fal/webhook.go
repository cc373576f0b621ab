package fal

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

	// Error is fal's error text on ERROR, e.g. "Invalid status code: 422".
	Error string `json:"error"`

	// PayloadError is set when fal could not serialise the output; Payload
	// is then null and the result must be fetched from the queue.
	PayloadError string `json:"payload_error"`
}

// ParseWebhook decodes a webhook body. Verify the signature over the same
// bytes first.
func ParseWebhook(body []byte) (*WebhookPayload, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, errors.New("parse fal webhook: body is not a JSON object")
	}

	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	var p WebhookPayload
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("parse fal webhook: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("parse fal webhook: data after the JSON object")
	}

	if p.RequestID == "" {
		return nil, errors.New("parse fal webhook: request_id is missing")
	}
	if p.Status != WebhookStatusOK && p.Status != WebhookStatusError {
		return nil, fmt.Errorf("parse fal webhook: status %q is neither %q nor %q",
			p.Status, WebhookStatusOK, WebhookStatusError)
	}
	if string(p.Payload) == "null" {
		p.Payload = nil
	}
	return &p, nil
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
	return cmp.Or(s.code, s.errorType), truncateDetail(cmp.Or(s.message, p.Error, p.PayloadError))
}
