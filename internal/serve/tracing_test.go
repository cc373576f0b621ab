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
// (and the method the client sent), and River's jobs are spans too, with
// their calls to fal; health and metrics endpoints are not.
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
		for _, want := range []string{"POST /v1/generations", "GET /v1/generations/:id", "POST /webhooks/fal/:id", "HEAD /v1/generations/:id", "river.work/submit_generation", "fal submit"} {
			assert.Contains(c, names, want)
		}
	}, 10*time.Second, 20*time.Millisecond)

	names := map[trace.SpanID]string{}
	for _, s := range recorder.Ended() {
		names[s.SpanContext().SpanID()] = s.Name()
	}
	for _, s := range recorder.Ended() {
		require.NotContains(t, []string{"GET /metrics", "GET /healthz"}, s.Name())
		switch s.Name() {
		case "POST /v1/generations":
			require.Equal(t, trace.SpanKindServer, s.SpanKind())
			require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", s.SpanContext().TraceID().String(), "the caller's trace goes on")
		case "fal submit":
			require.Equal(t, trace.SpanKindClient, s.SpanKind())
			require.Equal(t, "river.work/submit_generation", names[s.Parent().SpanID()], "a call of the job's")
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
		{name: "sampler", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"}, want: true},
		{name: "sampler in capitals", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "TraceIdRatio", "OTEL_TRACES_SAMPLER_ARG": "1"}, want: true},
		{name: "ratio ignored by sampler", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "always_off", "OTEL_TRACES_SAMPLER_ARG": "half"}, want: true},
		{name: "unknown sampler", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "bogus_sampler"}, wantErr: `OTEL_TRACES_SAMPLER: "bogus_sampler" is not one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio`},
		{name: "sampler the Go SDK lacks", env: map[string]string{"OTEL_TRACES_SAMPLER": "jaeger_remote"}, wantErr: `OTEL_TRACES_SAMPLER: "jaeger_remote" is not one of`},
		{name: "ratio not a number", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"}, wantErr: `OTEL_TRACES_SAMPLER_ARG: "half" is not a ratio from 0 to 1`},
		{name: "ratio above 1", env: map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"}, wantErr: `OTEL_TRACES_SAMPLER_ARG: "1.5" is not a ratio from 0 to 1`},
		{name: "ratio below 0", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "-0.1"}, wantErr: `OTEL_TRACES_SAMPLER_ARG: "-0.1" is not a ratio`},
		{name: "ratio NaN", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "NaN"}, wantErr: `OTEL_TRACES_SAMPLER_ARG: "NaN" is not a ratio`},
		{name: "endpoint without scheme", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "127.0.0.1:18830"}, wantErr: `OTEL_EXPORTER_OTLP_ENDPOINT: "127.0.0.1:18830" is not an http(s) URL such as http://collector:4318`},
		{name: "endpoint host:port", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, wantErr: `OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" is not an http(s) URL`},
		{name: "traces endpoint grpc scheme", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "grpc://collector:4317"}, wantErr: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "grpc://collector:4317" is not an http(s) URL`},
		{name: "endpoint's password hidden", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://user:s3cret@collector"}, wantErr: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "ftp://user:xxxxx@collector" is not an http(s) URL`},
		{name: "timeout", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TIMEOUT": "5000"}, want: true},
		{name: "timeout a duration", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "5s"}, wantErr: `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: "5s" is not a number of milliseconds, such as 10000`},
		{name: "disabled, nothing checked", env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_SAMPLER": "bogus_sampler"}, want: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := serve.ConfigFromEnv(func(name string) string { return tt.env[name] })
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.NotContains(t, err.Error(), "s3cret")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, cfg.Tracing)
		})
	}
}
