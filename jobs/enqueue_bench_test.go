package jobs_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/jobs"
)

// BenchmarkEnqueue is POST /v1/generations minus HTTP: validate the input,
// then insert the generation and its River job in one transaction.
func BenchmarkEnqueue(b *testing.B) {
	pool := dbtest.Pool(b)
	ctx := context.Background()
	input := json.RawMessage(`{"prompt": "a lighthouse at dusk, oil painting", "image_prompt_1": {"image_url": "https://example.com/reference.png"}}`)

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
}
