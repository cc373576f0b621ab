package jobs_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/jobs"
)

// globalSpans records the spans of the global tracer provider, which the
// enqueue clients trace through. The global can be set only once to any
// effect (tracers taken before it keep the first), so every test of the
// package shares this one and tells its spans apart by trace.
var globalSpans = sync.OnceValue(func() *tracetest.SpanRecorder {
	recorder := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder)))
	return recorder
})

// An enqueue inside a traced request carries the trace on: River's insert
// is a span of the request's trace, under the request's span, and the
// job's metadata holds the insert span's context, from which the workers'
// middleware links the job's span to it.
func TestEnqueueTrace(t *testing.T) {
	t.Parallel()
	recorder := globalSpans()
	tests := []struct {
		name string
		// enqueue enqueues within ctx and returns the pool to read the
		// job's row with, on Easel's search_path.
		enqueue func(t *testing.T, ctx context.Context) (*jobs.Enqueued, *pgxpool.Pool)
	}{
		{"Enqueue", func(t *testing.T, ctx context.Context) (*jobs.Enqueued, *pgxpool.Pool) {
			pool := dbtest.Pool(t)
			var enqueued *jobs.Enqueued
			require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) (err error) {
				enqueued, err = jobs.Enqueue(ctx, tx, "shop", enqueueTestInput, nil)
				return err
			}))
			return enqueued, pool
		}},
		{"EnqueuePool", func(t *testing.T, ctx context.Context) (*jobs.Enqueued, *pgxpool.Pool) {
			pool := dbtest.Pool(t)
			enqueued, err := jobs.EnqueuePool(ctx, pool, "shop", enqueueTestInput, nil)
			require.NoError(t, err)
			return enqueued, pool
		}},
		{"Enqueue with Schema", func(t *testing.T, ctx context.Context) (*jobs.Enqueued, *pgxpool.Pool) {
			b := setupSchema(t)
			var enqueued *jobs.Enqueued
			require.NoError(t, pgx.BeginFunc(ctx, b.app, func(tx pgx.Tx) (err error) {
				enqueued, err = jobs.Enqueue(ctx, tx, "shop", enqueueTestInput, &jobs.EnqueueOpts{Schema: "easel"})
				return err
			}))
			return enqueued, b.easel
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, request := otel.Tracer("test").Start(context.Background(), "POST /v1/generations")
			enqueued, pool := tt.enqueue(t, ctx)
			request.End()
			parent := request.SpanContext()

			var inserts []sdktrace.ReadOnlySpan
			for _, span := range recorder.Ended() {
				if span.SpanContext().TraceID() == parent.TraceID() && span.Name() == "river.insert_many" {
					inserts = append(inserts, span)
				}
			}
			require.Len(t, inserts, 1, "one insert span in the request's trace")
			insert := inserts[0]
			require.Equal(t, parent.SpanID(), insert.Parent().SpanID(), "the insert is the request's child")
			require.Equal(t, trace.SpanKindProducer, insert.SpanKind())

			var metadata json.RawMessage
			require.NoError(t, pool.QueryRow(ctx, `SELECT metadata FROM river_job WHERE args->>'generation_id' = $1`,
				enqueued.Generation.ID.String()).Scan(&metadata))
			var carried struct {
				Traceparent string `json:"traceparent"`
			}
			require.NoError(t, json.Unmarshal(metadata, &carried))
			require.Equal(t, "00-"+parent.TraceID().String()+"-"+insert.SpanContext().SpanID().String()+"-01", carried.Traceparent,
				"the job carries the insert span's context")
		})
	}
}

// An enqueue outside any trace, as every one is with tracing off, makes no
// span and writes no trace context into its job: otelriver is skipped.
func TestEnqueueOutsideATrace(t *testing.T) {
	t.Parallel()
	globalSpans() // a tracer provider is installed: the skip is for want of a trace
	pool := dbtest.Pool(t)
	ctx := context.Background()
	enqueued, err := jobs.EnqueuePool(ctx, pool, "shop", enqueueTestInput, nil)
	require.NoError(t, err)

	var traceparent *string
	require.NoError(t, pool.QueryRow(ctx, `SELECT metadata->>'traceparent' FROM river_job WHERE args->>'generation_id' = $1`,
		enqueued.Generation.ID.String()).Scan(&traceparent))
	require.Nil(t, traceparent, "no trace context in the job's metadata")
}
