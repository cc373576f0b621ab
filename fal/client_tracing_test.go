package fal

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// Each call to fal is a client span named after its operation, a child of
// the caller's span, with the status fal answered; the request carries the
// trace on to fal, and not the caller's baggage.
func TestClientSpans(t *testing.T) {
	t.Parallel()
	bundle := setupClient(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost:
			respondJSON(http.StatusOK, `{"request_id":"req-1"}`)(w, r)
		case strings.HasSuffix(r.URL.Path, "/status"):
			respondJSON(http.StatusOK, `{"status":"COMPLETED"}`)(w, r)
		case strings.HasSuffix(r.URL.Path, "/cancel"):
			respondJSON(http.StatusBadRequest, `{"status":"ALREADY_COMPLETED"}`)(w, r)
		default:
			respondJSON(http.StatusInternalServerError, `{"detail":"boom"}`)(w, r)
		}
	})
	recorder := tracetest.NewSpanRecorder()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	ctx, parent := provider.Tracer("test").Start(context.Background(), "submit_generation")
	member, err := baggage.NewMember("user", "secret-user")
	require.NoError(t, err)
	bag, err := baggage.New(member)
	require.NoError(t, err)
	ctx = baggage.ContextWithBaggage(ctx, bag)

	queued, err := bundle.client.Submit(ctx, SubmitRequest{EndpointID: EndpointImagePrompt, Input: json.RawMessage(`{}`)})
	require.NoError(t, err)
	_, err = bundle.client.Status(ctx, queued.StatusURL)
	require.NoError(t, err)
	_, err = bundle.client.Result(ctx, queued.ResponseURL)
	require.Error(t, err)
	outcome, err := bundle.client.Cancel(ctx, queued.CancelURL)
	require.NoError(t, err)
	require.Equal(t, CancelAlreadyCompleted, outcome)
	parent.End()

	submitted := bundle.lastRequest(t)
	require.Contains(t, submitted.Header.Get("Traceparent"), parent.SpanContext().TraceID().String(), "the trace goes on at fal")
	require.Empty(t, submitted.Header.Get("Baggage"), "the caller's baggage stays with Easel")

	spans := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range recorder.Ended() {
		spans[s.Name()] = s
	}
	for _, tt := range []struct {
		name       string
		status     int
		wantStatus codes.Code
	}{
		{name: "fal submit", status: http.StatusOK, wantStatus: codes.Unset},
		{name: "fal status", status: http.StatusOK, wantStatus: codes.Unset},
		{name: "fal result", status: http.StatusInternalServerError, wantStatus: codes.Error},
		{name: "fal cancel", status: http.StatusBadRequest, wantStatus: codes.Error},
	} {
		s, ok := spans[tt.name]
		require.True(t, ok, "no span %q among %v", tt.name, spans)
		require.Equal(t, trace.SpanKindClient, s.SpanKind(), tt.name)
		require.Equal(t, parent.SpanContext().SpanID(), s.Parent().SpanID(), tt.name)
		require.Contains(t, s.Attributes(), attribute.Int("http.response.status_code", tt.status), tt.name)
		require.Equal(t, tt.wantStatus, s.Status().Code, tt.name)
	}
}

// Without a span in the context nor a global tracer provider, calls send
// no trace context: tracing off costs no header.
func TestClientWithoutTracing(t *testing.T) {
	t.Parallel()
	bundle := setupClient(t, respondJSON(http.StatusOK, `{"request_id":"req-1"}`))

	_, err := bundle.client.Submit(context.Background(), SubmitRequest{EndpointID: EndpointImagePrompt, Input: json.RawMessage(`{}`)})
	require.NoError(t, err)
	require.Empty(t, bundle.lastRequest(t).Header.Get("Traceparent"))
}
