package falsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/easelhq/easel/fal"
)

// retrySchedule is the wait before each webhook retry: 10 retries over about
// two hours, as fal documents. Retries beyond it wait as long as the last.
var retrySchedule = []time.Duration{
	10 * time.Second,
	30 * time.Second,
	time.Minute,
	2 * time.Minute,
	5 * time.Minute,
	10 * time.Minute,
	15 * time.Minute,
	20 * time.Minute,
	30 * time.Minute,
	40 * time.Minute,
}

// retryDelay is the wait before retry number retry (0-based), compressed by
// timeScale.
func retryDelay(retry int, timeScale float64) time.Duration {
	d := retrySchedule[min(retry, len(retrySchedule)-1)]
	return time.Duration(float64(d) / timeScale)
}

const payloadErrorText = "Response payload is not JSON serializable. Fetch the result from the queue response URL instead."

// webhookPayload is the body of fal's completion webhook.
type webhookPayload struct {
	RequestID        string          `json:"request_id"`
	GatewayRequestID string          `json:"gateway_request_id"`
	Status           string          `json:"status"` // OK or ERROR
	Payload          json.RawMessage `json:"payload"`
	Error            *string         `json:"error"`
	PayloadError     *string         `json:"payload_error,omitempty"`
}

func webhookBody(req *request) ([]byte, error) {
	out := req.final
	p := webhookPayload{
		RequestID:        req.id,
		GatewayRequestID: req.gatewayID,
		Status:           "OK",
		Payload:          out.body,
	}
	switch {
	case out.failed():
		p.Status = "ERROR"
		errText := out.errorText()
		p.Error = &errText
	case out.payloadError:
		p.Payload = nil
		errText := payloadErrorText
		p.PayloadError = &errText
	}
	return marshalPython(p)
}

// sendWebhookLocked starts the delivery of req's webhook, unless the drop
// fault withholds it, and reports whether it did. A delivery retires req
// when it ends: a receiver that takes a late webhook's payload_error to
// fetch the result must still find it.
func (s *Sim) sendWebhookLocked(req *request) bool {
	if req.plan.webhookDrop {
		s.stats.WebhooksDropped++
		s.logger.Debug("webhook dropped by fault injection", "request_id", req.id)
		return false
	}
	body, err := webhookBody(req)
	if err != nil {
		s.logger.Error("build webhook body", "request_id", req.id, "error", err)
		return false
	}
	return s.goLocked(func() {
		defer func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.retireLocked(req)
		}()
		s.deliver(req, body)
	})
}

// deliver posts body to req's webhook URL after the configured delay,
// retrying on failure; a duplicate fault posts it again once acknowledged.
func (s *Sim) deliver(req *request, body []byte) {
	if !s.sleep(s.cfg.WebhookDelay) {
		return
	}
	copies := 1
	if req.plan.webhookDuplicate {
		copies = 2
	}
	for range copies {
		if !s.deliverWithRetries(req, body) {
			return
		}
	}
}

// deliverWithRetries reports whether the receiver acknowledged body.
func (s *Sim) deliverWithRetries(req *request, body []byte) bool {
	for attempt := 0; ; attempt++ {
		err := s.postWebhook(req, body)
		if err == nil {
			s.logger.Debug("webhook delivered", "request_id", req.id, "attempt", attempt+1)
			return true
		}
		if s.ctx.Err() != nil {
			return false
		}
		if attempt >= s.cfg.WebhookRetries {
			s.logger.Warn("webhook delivery abandoned", "request_id", req.id, "attempts", attempt+1, "error", err)
			return false
		}
		delay := retryDelay(attempt, s.cfg.TimeScale)
		s.logger.Info("webhook delivery failed, will retry", "request_id", req.id, "attempt", attempt+1, "retry_in", delay, "error", err)
		if !s.sleep(delay) {
			return false
		}
	}
}

// postWebhook makes one signed delivery attempt, with a fresh timestamp.
func (s *Sim) postWebhook(req *request, body []byte) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.WebhookTimeout)
	defer cancel()
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, req.webhookURL, bytes.NewReader(body))
	if err != nil {
		s.count(func(st *Stats) { st.WebhooksFailed++ })
		return fmt.Errorf("build webhook request of %s: %w", req.id, err)
	}
	httpReq.Header = s.signatureHeaders(req.id, body)
	httpReq.Header.Set("Content-Type", "application/json")
	httpReq.Header.Set("User-Agent", "falsim")

	s.count(func(st *Stats) { st.WebhooksSent++ })
	resp, err := s.cfg.HTTPClient.Do(httpReq)
	if err != nil {
		s.count(func(st *Stats) { st.WebhooksFailed++ })
		return fmt.Errorf("post webhook of %s: %w", req.id, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		s.count(func(st *Stats) { st.WebhooksFailed++ })
		return fmt.Errorf("post webhook of %s: receiver answered %s", req.id, resp.Status)
	}
	s.count(func(st *Stats) { st.WebhooksAcked++ })
	return nil
}

// signatureHeaders are the X-Fal-Webhook-* headers of one delivery attempt
// of body, signed now: fal's own format, as package fal verifies it.
func (s *Sim) signatureHeaders(requestID string, body []byte) http.Header {
	return fal.SignWebhook(s.key, requestID, s.cfg.UserID, s.now(), body)
}

// sleep waits for d and reports false if the simulator closed first.
func (s *Sim) sleep(d time.Duration) bool {
	if d <= 0 {
		return s.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

func (s *Sim) count(f func(*Stats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.stats)
}
