package jobs_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

// okWebhook is fal's webhook body for a request that made two images.
func okWebhook(requestID string) string {
	return fmt.Sprintf(`{"error": null, "gateway_request_id": %[1]q, "payload": {"has_nsfw_concepts": [false, false], "images": [`+
		`{"content_type": "image/png", "url": "https://cdn.example/a.png", "width": 32, "height": 64}, `+
		`{"content_type": "image/png", "url": "https://cdn.example/b.png", "width": 32, "height": 64}], "timings": {}}, `+
		`"request_id": %[1]q, "status": "OK"}`, requestID)
}

// deferredWebhook is fal's webhook body for a request whose output it could
// not serialise.
func deferredWebhook(requestID string) string {
	return fmt.Sprintf(`{"error": null, "gateway_request_id": %[1]q, "payload": null, `+
		`"payload_error": "Response payload is not JSON serializable", "request_id": %[1]q, "status": "OK"}`, requestID)
}

// deliverSigned posts body, signed with b.key for requestID as fal signs
// any account's webhooks, to generation id's webhook URL, and returns the
// outcome the receiver answered.
func (b *testBundle) deliverSigned(t *testing.T, id uuid.UUID, requestID, body string) store.WebhookOutcome {
	t.Helper()
	req, err := http.NewRequestWithContext(b.ctx, http.MethodPost, jobs.WebhookURL(b.cfg.PublicURL, id), strings.NewReader(body))
	require.NoError(t, err)
	req.Header = fal.SignWebhook(b.key, requestID, "another-user", time.Now(), []byte(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out struct {
		Outcome store.WebhookOutcome `json:"outcome"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	b.awaitDelivery(t) // this one
	return out.Outcome
}

// lostAnswerNoting loses each answer as lostAnswer does, after sending the
// request id it named to ids: what fal's records would show.
type lostAnswerNoting struct{ ids chan<- string }

func (l lostAnswerNoting) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var answer struct {
		RequestID string `json:"request_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return nil, err
	}
	l.ids <- answer.RequestID
	return nil, fmt.Errorf("read response: %w", io.ErrUnexpectedEOF)
}

// A request that only a webhook named is adopted only once fal, asked with
// Easel's key, knows it: fal signs every account's webhooks with the same
// keys, so a signed webhook at a generation's URL can carry another
// account's request. Until fal can be asked, nothing is adopted or
// submitted.
func TestRevealedRequestIsConfirmedWithFal(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		// revealed is the request the webhook names, given the one the lost
		// submission made.
		revealed func(lost string) string
		// fal is the client the retried job asks fal with; nil for b.fal.
		fal func(t *testing.T, b *testBundle) jobs.Fal

		wantSnoozeMin, wantSnoozeMax time.Duration // zero: not snoozed
		wantStatus                   store.Status
		wantRevealedKept             bool
		wantConfirmed                int
	}{
		{
			name:       "fal knows it: adopted",
			revealed:   func(lost string) string { return lost },
			wantStatus: store.StatusSubmitted, wantRevealedKept: true, wantConfirmed: 1,
		},
		{
			name:          "another account's request (404): forgotten, the lost submission's webhook awaited",
			revealed:      func(string) string { return "0b7e1f4c-5c1a-4a39-9d55-3f0e2b8c6a11" },
			wantSnoozeMin: 59 * time.Minute, wantSnoozeMax: time.Hour, // PollAfter from the submission
			wantStatus: store.StatusQueued,
		},
		{
			name:     "fal refuses to say (401): forgotten",
			revealed: func(lost string) string { return lost },
			fal: func(_ *testing.T, b *testBundle) jobs.Fal {
				return fal.NewClient(fal.ClientConfig{QueueURL: b.sim.QueueURL()}) // no key
			},
			wantSnoozeMin: 59 * time.Minute, wantSnoozeMax: time.Hour,
			wantStatus: store.StatusQueued,
		},
		{
			name:     "fal unreachable: asked again later",
			revealed: func(lost string) string { return lost },
			fal: func(t *testing.T, _ *testBundle) jobs.Fal {
				return fal.NewClient(fal.ClientConfig{QueueURL: closedURL(t), Key: "test-key"})
			},
			wantSnoozeMin: 2500 * time.Millisecond, wantSnoozeMax: 7500 * time.Millisecond,
			wantStatus: store.StatusQueued, wantRevealedKept: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, falsim.Config{WebhookDropRate: 1})
			gen := b.enqueue(t, "tests")

			ids := make(chan string, 1)
			lost := b.cfg
			lost.Fal = fal.NewClient(fal.ClientConfig{QueueURL: b.sim.QueueURL(), Key: "test-key", HTTPClient: &http.Client{Transport: lostAnswerNoting{ids}}})
			snoozed(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, lost), gen.ID))
			revealed := tt.revealed(<-ids)
			require.Equal(t, store.OutcomeDeferred, b.deliverSigned(t, gen.ID, revealed, deferredWebhook(revealed)))
			require.Equal(t, revealed, *b.generation(t, gen.ID).FalRequestID)

			retry := b.cfg
			if tt.fal != nil {
				retry.Fal = tt.fal(t, b)
			}
			err := b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, retry), gen.ID)
			if tt.wantSnoozeMax > 0 {
				d := snoozed(t, err)
				require.GreaterOrEqual(t, d, tt.wantSnoozeMin)
				require.LessOrEqual(t, d, tt.wantSnoozeMax)
			} else {
				require.NoError(t, err)
			}

			got := b.generation(t, gen.ID)
			require.Equal(t, tt.wantStatus, got.Status)
			if tt.wantRevealedKept {
				require.Equal(t, revealed, *got.FalRequestID)
			} else {
				require.Nil(t, got.FalRequestID)
			}
			submissions, confirmed := b.accounting(t, gen.ID)
			require.Equal(t, [2]int{1, tt.wantConfirmed}, [2]int{submissions, confirmed})
			require.Equal(t, 1, b.sim.Sim.Stats().Submissions, "nothing submitted again")
		})
	}
}

// gatewayErrorNaming delivers each submit to fal, which queues it, and
// answers Easel with a 502 that carries x-fal-request-id, as fal's ingress
// failing after the queue accepted the request would: the request fal gave,
// or named when set.
type gatewayErrorNaming struct{ named string }

func (g gatewayErrorNaming) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var answer struct {
		RequestID string `json:"request_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return nil, err
	}
	named := answer.RequestID
	if g.named != "" {
		named = g.named
	}
	return &http.Response{
		StatusCode: http.StatusBadGateway,
		Status:     "502 Bad Gateway",
		Header:     http.Header{"Content-Type": {"application/json"}, "X-Fal-Request-Id": {named}},
		Body:       io.NopCloser(strings.NewReader(`{"detail": "Bad Gateway"}`)),
		Request:    req,
	}, nil
}

// A submit error answer that names its request (x-fal-request-id) is counted
// as a submission fal may have accepted, and its request recorded as one a
// webhook revealed is: the next run asks fal about it and adopts it, rather
// than paying for another once EASEL_POLL_AFTER passes without a webhook. A
// request fal does not know is forgotten, and the generation submitted
// again, as for a webhook.
func TestRequestNamedInErrorAnswerIsConfirmedWithFal(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		// named is the request the error answer names; "" for the one fal
		// queued.
		named string

		wantSubmissions, wantConfirmed int // fal_submissions, after the retry
	}{
		{name: "fal knows it: adopted", wantSubmissions: 1, wantConfirmed: 1},
		{name: "fal does not know it (404): forgotten, submitted again", named: "0b7e1f4c-5c1a-4a39-9d55-3f0e2b8c6a11",
			wantSubmissions: 2, wantConfirmed: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, falsim.Config{WebhookDropRate: 1, Latency: falsim.Latency{Min: time.Hour, Max: time.Hour}})
			b.cfg.PollAfter = time.Nanosecond // the webhook that never comes: waited for at once
			gen := b.enqueue(t, "tests")

			named := b.cfg
			named.Fal = fal.NewClient(fal.ClientConfig{QueueURL: b.sim.QueueURL(), Key: "test-key",
				HTTPClient: &http.Client{Transport: gatewayErrorNaming{named: tt.named}}})
			snoozed(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, named), gen.ID))
			got := b.generation(t, gen.ID)
			require.Equal(t, store.StatusQueued, got.Status)
			require.Equal(t, "fal_unavailable", *got.ErrorCode)
			require.NotNil(t, got.FalRequestID, "the request fal named is recorded")
			require.Equal(t, 1, got.FalSubmissions, "fal named a request: counted")
			require.Equal(t, 1, b.sim.Sim.Stats().Submissions)
			if tt.named != "" {
				require.Equal(t, tt.named, *got.FalRequestID)
			}

			require.NoError(t, b.submit(t, gen.ID))
			got = b.generation(t, gen.ID)
			require.Equal(t, store.StatusSubmitted, got.Status)
			require.NotEqual(t, tt.named, *got.FalRequestID)
			submissions, confirmed := b.accounting(t, gen.ID)
			require.Equal(t, [2]int{tt.wantSubmissions, tt.wantConfirmed}, [2]int{submissions, confirmed})
			require.Equal(t, tt.wantSubmissions, b.sim.Sim.Stats().Submissions)
		})
	}
}
