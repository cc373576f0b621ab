package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
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

	"github.com/easelhq/easel/internal/logthrottle"
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
	if err := checkOTelEnv(get); err != nil {
		return false, err
	}
	return exporter == "otlp" || get("OTEL_EXPORTER_OTLP_ENDPOINT", "") != "" ||
		get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "") != "", nil
}

// otelSamplers are the OTEL_TRACES_SAMPLER values OpenTelemetry's Go SDK
// supports, each saying whether it reads OTEL_TRACES_SAMPLER_ARG as its
// ratio.
var otelSamplers = map[string]bool{
	"always_on": false, "always_off": false, "traceidratio": true,
	"parentbased_always_on": false, "parentbased_always_off": false, "parentbased_traceidratio": true,
}

// checkOTelEnv refuses the values of the OTEL_* variables that the SDK and
// the exporter would only log about, carrying on with something else: an
// unknown sampler or a bad ratio samples every trace, an endpoint that is
// not a URL exports to https://localhost:4318, a bad timeout keeps 10 s.
// Each is a mistake that start-up, which says it exports "as the OTEL_*
// variables configure", would otherwise hide.
func checkOTelEnv(get func(name, def string) string) error {
	var errs []error
	sampler := strings.ToLower(get("OTEL_TRACES_SAMPLER", ""))
	if usesRatio, ok := otelSamplers[sampler]; sampler != "" && !ok {
		errs = append(errs, fmt.Errorf("OTEL_TRACES_SAMPLER: %q is not one of always_on, always_off, traceidratio, "+
			"parentbased_always_on, parentbased_always_off, parentbased_traceidratio", sampler))
	} else if arg := get("OTEL_TRACES_SAMPLER_ARG", ""); usesRatio && arg != "" {
		// NaN passes the SDK's own range check, and makes no sense.
		if ratio, err := strconv.ParseFloat(arg, 64); err != nil || !(ratio >= 0 && ratio <= 1) {
			errs = append(errs, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG: %q is not a ratio from 0 to 1, such as 0.25, which %s reads", arg, sampler))
		}
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		v := get(name, "")
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not an http(s) URL such as http://collector:4318", name, v))
		} else if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s: %q is not an http(s) URL such as http://collector:4318", name, u.Redacted()))
		}
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"} {
		v := get(name, "")
		if v == "" {
			continue
		}
		if ms, err := strconv.Atoi(v); err != nil || ms < 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a number of milliseconds, such as 10000", name, v))
		}
	}
	return errors.Join(errs...)
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
	// Before the exporter and the provider exist, which report what they
	// make of the OTEL_* variables through these.
	otel.SetErrorHandler(newOTelErrorHandler(logger))
	otel.SetLogger(logr.FromSlogHandler(otelLogLevels{logger.With("component", "opentelemetry").Handler()}))
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

// otelErrorWarnEvery is how often at most OpenTelemetry's errors of one
// kind are logged: a collector down fails every export, one every 5 s at
// the default batch delay.
const otelErrorWarnEvery = time.Minute

// otelErrorForget is how long after its latest line a kind of error is
// forgotten, so that the state stays as small as the kinds seen lately.
const otelErrorForget = 10 * time.Minute

// otelErrorHandler logs what OpenTelemetry cannot do, such as a failed
// export of traces, as a WARN: its default handler goes through the log
// package, which slog's default logger turns into INFO lines. An error is
// logged at once, then at most once every otelErrorWarnEvery per kind, with
// the count since the line before.
type otelErrorHandler struct {
	logger   *slog.Logger
	throttle *logthrottle.Throttle
}

// newOTelErrorHandler returns an otelErrorHandler; opts are for tests'
// clocks.
func newOTelErrorHandler(logger *slog.Logger, opts ...logthrottle.Option) otelErrorHandler {
	return otelErrorHandler{logger: logger, throttle: logthrottle.New(otelErrorWarnEvery, otelErrorForget, opts...)}
}

func (h otelErrorHandler) Handle(err error) {
	n, since, ok := h.throttle.Allow(otelErrorKind(err))
	if !ok {
		return
	}
	h.logger.Warn("opentelemetry error; traces may be lost", "error", err, "errors", n, "since", since)
}

// otelErrorKind is what an error's text says before its first colon
// ("traces export"): the errors alike but for an address or a cause share
// it, so that a collector failing one way, then another, is one line a
// minute.
func otelErrorKind(err error) string {
	kind, _, _ := strings.Cut(err.Error(), ":")
	if len(kind) > 100 {
		kind = kind[:100]
	}
	return kind
}

// otelLogLevels makes the levels of OpenTelemetry's internal logger, in
// logr's verbosities, slog's: its Warn (V(1), which logr would make slog
// level -1, below INFO) a WARN, its Info and Debug (V(4), V(8)) DEBUG. Its
// errors are ERRORs already.
type otelLogLevels struct{ slog.Handler }

func (h otelLogLevels) level(l slog.Level) slog.Level {
	switch {
	case l >= slog.LevelInfo:
		return l
	case l >= slog.LevelInfo-1:
		return slog.LevelWarn
	default:
		return slog.LevelDebug
	}
}

func (h otelLogLevels) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(ctx, h.level(l))
}

func (h otelLogLevels) Handle(ctx context.Context, r slog.Record) error {
	r.Level = h.level(r.Level)
	return h.Handler.Handle(ctx, r)
}

func (h otelLogLevels) WithAttrs(attrs []slog.Attr) slog.Handler {
	return otelLogLevels{h.Handler.WithAttrs(attrs)}
}

func (h otelLogLevels) WithGroup(name string) slog.Handler {
	return otelLogLevels{h.Handler.WithGroup(name)}
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
