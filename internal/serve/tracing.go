package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river/rivertype"
	"github.com/riverqueue/rivercontrib/otelriver"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// propagator reads and writes W3C trace context and baggage headers.
var propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// tracingFromEnv reports whether the standard OTEL_* variables ask for
// traces: an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), or OTEL_TRACES_EXPORTER=otlp.
// Unlike the specification's default, tracing is off when none is, so that
// a plain easel serve neither exports nor pays for spans; OTEL_SDK_DISABLED
// and OTEL_TRACES_EXPORTER=none turn it off too. The exporter speaks OTLP
// over HTTP only: asking for gRPC is an error rather than silence.
func tracingFromEnv(get func(name, def string) string) (bool, error) {
	disabled := get("OTEL_SDK_DISABLED", "false")
	if off, err := strconv.ParseBool(disabled); err != nil {
		return false, fmt.Errorf("OTEL_SDK_DISABLED: %q is not true or false", disabled)
	} else if off {
		return false, nil
	}
	exporter := strings.ToLower(get("OTEL_TRACES_EXPORTER", ""))
	switch exporter {
	case "", "otlp":
	case "none":
		return false, nil
	default:
		return false, fmt.Errorf("OTEL_TRACES_EXPORTER: %q is not supported; use otlp or none", exporter)
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := get(name, "http/protobuf"); p != "http/protobuf" {
			return false, fmt.Errorf("%s: %q is not supported; Easel exports OTLP over http/protobuf", name, p)
		}
	}
	return exporter == "otlp" || get("OTEL_EXPORTER_OTLP_ENDPOINT", "") != "" ||
		get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "") != "", nil
}

// setupTracing returns the tracer provider of cfg: its TracerProvider, or
// with cfg.Tracing an OTLP/HTTP exporter configured by the OTEL_*
// variables (endpoint, headers, timeout, sampler, service name and
// resource attributes), installed as OpenTelemetry's global provider too;
// nil when tracing is off. stop flushes what is buffered.
func setupTracing(ctx context.Context, cfg Config, logger *slog.Logger) (tp trace.TracerProvider, stop func(), err error) {
	if cfg.TracerProvider != nil || !cfg.Tracing {
		return cfg.TracerProvider, func() {}, nil
	}
	exporter, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("create OTLP trace exporter: %w", err)
	}
	// Later options win: OTEL_SERVICE_NAME overrides the default name.
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "easel")),
		resource.WithTelemetrySDK(), resource.WithHost(), resource.WithFromEnv())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, nil, fmt.Errorf("describe the process for traces: %w", err)
	}
	sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	otel.SetErrorHandler(otelErrorHandler{logger})
	otel.SetTracerProvider(sdk)
	otel.SetTextMapPropagator(propagator)
	logger.Info("exporting traces over OTLP/HTTP, as the OTEL_* variables configure")
	return sdk, func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := sdk.Shutdown(ctx); err != nil {
			logger.Warn("flush traces", "error", err)
		}
	}, nil
}

// otelErrorHandler logs what OpenTelemetry cannot do, such as a failed
// export of traces, as a WARN: its default handler goes through the log
// package, which slog's default logger turns into INFO lines.
type otelErrorHandler struct{ logger *slog.Logger }

func (h otelErrorHandler) Handle(err error) {
	h.logger.Warn("opentelemetry error; traces may be lost", "error", err)
}

// riverTracing is River middleware making a span of every job inserted and
// worked; none without a tracer provider.
func riverTracing(tp trace.TracerProvider) []rivertype.Middleware {
	if tp == nil {
		return nil
	}
	return []rivertype.Middleware{otelriver.NewMiddleware(&otelriver.MiddlewareConfig{
		TracerProvider:              tp,
		EnableTracePropagation:      true,
		EnableWorkSpanJobKindSuffix: true,
	})}
}

// traceHTTP makes a server span of every request to e but the health and
// metrics endpoints, continuing the caller's trace, and names it after the
// Echo route ("POST /v1/generations/:id/cancel"), as the semantic
// conventions ask. It returns e itself without a tracer provider.
func traceHTTP(e *echo.Echo, tp trace.TracerProvider) http.Handler {
	if tp == nil {
		return e
	}
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if route := c.Path(); route != "" {
				span := trace.SpanFromContext(c.Request().Context())
				span.SetName(c.Request().Method + " " + route)
				span.SetAttributes(attribute.String("http.route", route))
			}
			return next(c)
		}
	})
	return otelhttp.NewHandler(e, "http.server",
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(propagator),
		otelhttp.WithFilter(func(r *http.Request) bool {
			switch r.URL.Path {
			case "/healthz", "/readyz", "/metrics":
				return false
			}
			return true
		}))
}
