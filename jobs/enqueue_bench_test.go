package jobs_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/jobs"
)

const benchInput = `{"prompt": "a lighthouse at dusk, oil painting", "image_prompt_1": {"image_url": "https://example.com/reference.png"}}`

// BenchmarkEnqueue is POST /v1/generations minus HTTP: validate the input,
// then insert the generation and its River job in one transaction.
func BenchmarkEnqueue(b *testing.B) {
	pool := dbtest.Pool(b)
	ctx := context.Background()
	input := json.RawMessage(benchInput)

	cpu := dbtest.StartCPUMeter(ctx, b, pool)
	b.ReportAllocs()
	for b.Loop() {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := jobs.Enqueue(ctx, tx, "bench", input, nil)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	cpu.Report(b)
}

// BenchmarkEnqueuePool is BenchmarkEnqueue as the HTTP API enqueues: the
// input validated from the body's fields, then EnqueuePool.
func BenchmarkEnqueuePool(b *testing.B) {
	pool := dbtest.Pool(b)
	ctx := context.Background()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(benchInput), &fields); err != nil {
		b.Fatal(err)
	}

	cpu := dbtest.StartCPUMeter(ctx, b, pool)
	b.ReportAllocs()
	for b.Loop() {
		input, err := jobs.ParseInput(fields)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := jobs.EnqueuePool(ctx, pool, "bench", input, nil); err != nil {
			b.Fatal(err)
		}
	}
	cpu.Report(b)
}
