package serve_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/easelhq/easel/internal/serve"
)

// A request continues its caller's trace in a span named after its route
// (and the method the client sent), and River's jobs are spans too; health
// and metrics endpoints are not.
func TestTracing(t *testing.T) {
	t.Parallel()
	recorder := tracetest.NewSpanRecorder()
	b := setupWithConfig(t, func(cfg *serve.Config) {
		cfg.Simulator = fastSimulator()
		cfg.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	}, io.Discard)

	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	status, body := b.do(t, http.MethodPost, "/v1/generations",
		http.Header{"Content-Type": {"application/json"}, "Traceparent": {traceparent}}, []byte(exampleInput))
	require.Equal(t, http.StatusAccepted, status, string(body))
	var g generation
	require.NoError(t, json.Unmarshal(body, &g))
	require.Equal(t, "completed", b.awaitTerminal(t, g.ID).Status)
	b.do(t, http.MethodGet, "/metrics", nil, nil)
	b.do(t, http.MethodGet, "/healthz", nil, nil)
	b.do(t, http.MethodHead, "/v1/generations/"+g.ID, nil, nil) // named as sent

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var names []string
		for _, s := range recorder.Ended() {
			names = append(names, s.Name())
		}
		for _, want := range []string{"POST /v1/generations", "GET /v1/generations/:id", "POST /webhooks/fal/:id", "HEAD /v1/generations/:id", "river.work/submit_generation"} {
			assert.Contains(c, names, want)
		}
	}, 10*time.Second, 20*time.Millisecond)

	for _, s := range recorder.Ended() {
		require.NotContains(t, []string{"GET /metrics", "GET /healthz"}, s.Name())
		if s.Name() == "POST /v1/generations" {
			require.Equal(t, trace.SpanKindServer, s.SpanKind())
			require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", s.SpanContext().TraceID().String(), "the caller's trace goes on")
		}
	}
}

func TestTracingConfigFromEnv(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		env     map[string]string
		want    bool
		wantErr string
	}{
		{name: "no OTEL variable", want: false},
		{name: "endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, want: true},
		{name: "traces endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, want: true},
		{name: "exporter otlp", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, want: true},
		{name: "service name alone", env: map[string]string{"OTEL_SERVICE_NAME": "easel-eu"}, want: false},
		{name: "exporter none", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, want: false},
		{name: "SDK disabled", env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, want: false},
		{name: "http/protobuf", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_TRACES_EXPORTER": "otlp"}, want: true},
		{name: "grpc", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, wantErr: `OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" is not supported`},
		{name: "zipkin", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: `OTEL_TRACES_EXPORTER: "zipkin" is not supported`},
		{name: "bad disabled", env: map[string]string{"OTEL_SDK_DISABLED": "maybe"}, wantErr: `OTEL_SDK_DISABLED: "maybe" is not true or false`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := serve.ConfigFromEnv(func(name string) string { return tt.env[name] })
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, cfg.Tracing)
		})
	}
}
