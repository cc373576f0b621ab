package webhooks_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/store"
)

// okBodyFor is okBody reporting on fal request requestID.
func okBodyFor(requestID string) string {
	return strings.ReplaceAll(okBody, `"req-1"`, `"`+requestID+`"`)
}

// recordSubmitted records fal's answer naming requestID for gen's counted
// submission, as the submit worker does.
func (b *testBundle) recordSubmitted(t *testing.T, gen *store.Generation, requestID string) {
	t.Helper()
	_, err := store.RecordSubmitted(b.ctx, b.pool, gen.ID, store.Submission{
		RequestID: requestID, StatusURL: "https://queue.example/" + requestID + "/status",
	})
	require.NoError(t, err)
}

// A signed delivery is applied only to a generation whose request it may be:
// fal signs every account's webhooks with the same keys, and the signature
// does not cover the URL. Anything else is stored as mismatched_request,
// answered 200 and changes nothing, not even what the generation knows of
// fal.
func TestMismatchedRequestChangesNothing(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		// victim returns the generation whose URL the delivery is sent to.
		victim func(t *testing.T, b *testBundle) *store.Generation
		// signedRequestID is the request the signature names; the body
		// always reports on req-1.
		signedRequestID string
	}{
		{
			name:            "the body reports on another request than the signature names",
			victim:          func(t *testing.T, b *testBundle) *store.Generation { return b.enqueue(t) },
			signedRequestID: "req-2",
		},
		{
			name:   "never submitted",
			victim: func(t *testing.T, b *testBundle) *store.Generation { return b.enqueueUnsubmitted(t) },
		},
		{
			name: "submitted with another request",
			victim: func(t *testing.T, b *testBundle) *store.Generation {
				gen := b.enqueue(t)
				b.recordSubmitted(t, gen, "req-A")
				return gen
			},
		},
		{
			name: "adopted another request",
			victim: func(t *testing.T, b *testBundle) *store.Generation {
				gen := b.enqueue(t)
				// Named by fal's error answer to the submit, as a webhook
				// may name it, then adopted.
				_, err := store.RecordSubmitErrorNamingRequest(b.ctx, b.pool, gen.ID, store.ErrorCodeFalUnavailable, "HTTP 502", "req-A")
				require.NoError(t, err)
				_, err = store.AdoptSubmission(b.ctx, b.pool, gen.ID, store.Submission{RequestID: "req-A"})
				require.NoError(t, err)
				return gen
			},
		},
		{
			name: "a replay of another generation's result",
			victim: func(t *testing.T, b *testBundle) *store.Generation {
				b.recordSubmitted(t, b.enqueue(t), "req-1")
				return b.enqueue(t) // awaiting fal's answer: would take any request but another's
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			victim := tt.victim(t, b)
			before, _, _ := b.generation(t, victim)

			signed := fal.SignWebhook(b.key, cmpOr(tt.signedRequestID, "req-1"), "user-1", time.Now(), []byte(okBody))
			d := b.deliver(t, "/webhooks/fal/"+victim.ID.String(), []byte(okBody), signed)
			require.Equal(t, delivery{status: 200, outcome: store.OutcomeMismatchedRequest}, d, "answered 200: fal must not retry it")

			after, images, outcomes := b.generation(t, victim)
			require.Equal(t, before.Status, after.Status)
			require.Equal(t, before.FalRequestID, after.FalRequestID, "the request is not noted for the submit worker to adopt")
			require.Equal(t, before.LastWebhookAt, after.LastWebhookAt, "it does not count as the generation's webhook")
			require.Empty(t, images)
			require.Equal(t, []store.WebhookOutcome{store.OutcomeMismatchedRequest}, outcomes, "kept as evidence")
		})
	}
}

// The deliveries that may be the generation's are applied: its own request,
// one that beat the submit call's record of fal's answer, and an earlier
// submission's whose answer was lost before the generation was submitted
// again.
func TestWebhookForOwnRequestApplies(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		victim func(t *testing.T, b *testBundle) *store.Generation
	}{
		{
			name: "its request",
			victim: func(t *testing.T, b *testBundle) *store.Generation {
				gen := b.enqueue(t)
				b.recordSubmitted(t, gen, "req-1")
				return gen
			},
		},
		{
			name:   "before the submit call recorded fal's answer",
			victim: func(t *testing.T, b *testBundle) *store.Generation { return b.enqueue(t) },
		},
		{
			name: "an earlier submission whose answer was lost",
			victim: func(t *testing.T, b *testBundle) *store.Generation {
				gen := b.enqueue(t)
				require.NoError(t, store.RecordSubmitError(b.ctx, b.pool, gen.ID, "fal_unreachable", "unexpected EOF"))
				_, err := store.MarkSubmitting(b.ctx, b.pool, gen.ID)
				require.NoError(t, err)
				b.recordSubmitted(t, gen, "req-B")
				return gen
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			gen := tt.victim(t, b)

			d := b.deliver(t, "/webhooks/fal/"+gen.ID.String(), []byte(okBody), b.signed(okBody))
			require.Equal(t, delivery{status: 200, outcome: store.OutcomeApplied}, d)
			got, images, _ := b.generation(t, gen)
			require.Equal(t, store.StatusCompleted, got.Status)
			require.Equal(t, "req-1", *got.FalRequestID, "finished with the request whose result it has")
			require.NotNil(t, got.LastWebhookAt)
			require.Len(t, images, 2)

			d = b.deliver(t, "/webhooks/fal/"+gen.ID.String(), []byte(okBody), b.signed(okBody))
			require.Equal(t, delivery{status: 200, outcome: store.OutcomeDuplicate}, d)
		})
	}
}

// A deferred result (payload_error) leaves the generation queued, and the
// request it names noted for the submit worker, which adopts it only once
// fal confirms it (see the jobs tests).
func TestDeferredWebhookNotesRequest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	gen := b.enqueue(t)

	body := `{"error": null, "gateway_request_id": "req-7", "payload": null, "payload_error": "not serializable", "request_id": "req-7", "status": "OK"}`
	d := b.deliver(t, "/webhooks/fal/"+gen.ID.String(), []byte(body), fal.SignWebhook(b.key, "req-7", "user-1", time.Now(), []byte(body)))
	require.Equal(t, delivery{status: 200, outcome: store.OutcomeDeferred}, d)
	got, _, _ := b.generation(t, gen)
	require.Equal(t, store.StatusQueued, got.Status)
	require.Equal(t, "req-7", *got.FalRequestID)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// fal's gateway_request_id differs from request_id once fal retried the
// request internally, and which of the two X-Fal-Webhook-Request-Id
// carries is not documented: a signature naming either is the body's, since
// it covers the body too. A header naming neither is still mismatched.
func TestWebhookSignedWithEitherRequestID(t *testing.T) {
	t.Parallel()

	body := strings.Replace(okBody, `"gateway_request_id": "req-1"`, `"gateway_request_id": "gw-2"`, 1)
	tests := []struct {
		name, header string
		want         store.WebhookOutcome
	}{
		{name: "request_id", header: "req-1", want: store.OutcomeApplied},
		{name: "gateway_request_id", header: "gw-2", want: store.OutcomeApplied},
		{name: "neither", header: "gw-3", want: store.OutcomeMismatchedRequest},
		{name: "another generation's request", header: "req-A", want: store.OutcomeMismatchedRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			gen := b.enqueue(t)
			b.recordSubmitted(t, gen, "req-1")
			b.recordSubmitted(t, b.enqueue(t), "req-A")

			d := b.deliver(t, "/webhooks/fal/"+gen.ID.String(), []byte(body), fal.SignWebhook(b.key, tt.header, "user-1", time.Now(), []byte(body)))
			require.Equal(t, delivery{status: 200, outcome: tt.want}, d)
			got, images, _ := b.generation(t, gen)
			require.Equal(t, "req-1", *got.FalRequestID)
			if tt.want == store.OutcomeApplied {
				require.Equal(t, store.StatusCompleted, got.Status)
				require.Len(t, images, 2)
			} else {
				require.Equal(t, store.StatusSubmitted, got.Status)
				require.Empty(t, images)
			}
		})
	}
}

// A webhook that beat the submit call's record of fal's answer, signed
// with its gateway_request_id, still gives the generation the body's
// request_id, the id fal's queue knows it by.
func TestWebhookSignedWithGatewayIDNotesRequestID(t *testing.T) {
	t.Parallel()
	b := setup(t)
	gen := b.enqueue(t)

	body := strings.Replace(okBody, `"gateway_request_id": "req-1"`, `"gateway_request_id": "gw-2"`, 1)
	d := b.deliver(t, "/webhooks/fal/"+gen.ID.String(), []byte(body), fal.SignWebhook(b.key, "gw-2", "user-1", time.Now(), []byte(body)))
	require.Equal(t, delivery{status: 200, outcome: store.OutcomeApplied}, d)
	got, _, _ := b.generation(t, gen)
	require.Equal(t, store.StatusCompleted, got.Status)
	require.Equal(t, "req-1", *got.FalRequestID)
}
