package falsim

import "net/http"

// Stats are the simulator's counters, served as JSON at GET /_sim/stats.
type Stats struct {
	// Submissions counts accepted submits.
	Submissions int `json:"submissions"`
	// DuplicateSubmissions counts accepted submits whose fal_webhook URL an
	// earlier request still kept (Config.Retention) used: for Easel, a
	// generation paid twice.
	DuplicateSubmissions int `json:"duplicate_submissions"`
	// RejectedSubmissions counts submits answered 429 or 5xx.
	RejectedSubmissions int `json:"rejected_submissions"`

	InQueue    int `json:"in_queue"`
	InProgress int `json:"in_progress"`
	// MaxInProgress is the high-water mark of InProgress.
	MaxInProgress int `json:"max_in_progress"`
	// Completed counts requests that ran to COMPLETED, with images or a
	// model error (Config.FailRate). A cancelled request is counted in
	// Cancelled instead: fal reports it COMPLETED too, with error_type
	// client_cancelled, but it never ran to the end and gets no webhook, so
	// counting it here would read as a webhook missing. Every accepted
	// submission is in exactly one of InQueue, InProgress, Completed and
	// Cancelled.
	Completed int `json:"completed"`
	// Cancelled counts requests ended by a cancel while queued or running.
	Cancelled int `json:"cancelled"`

	// WebhooksSent counts delivery attempts; each ends acked or failed.
	WebhooksSent   int `json:"webhooks_sent"`
	WebhooksAcked  int `json:"webhooks_acked"`
	WebhooksFailed int `json:"webhooks_failed"`
	// WebhooksDropped counts webhooks withheld by Config.WebhookDropRate.
	WebhooksDropped int `json:"webhooks_dropped"`
}

func (s *Sim) serveStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}
