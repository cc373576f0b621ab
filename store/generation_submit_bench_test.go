package store_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/store"
)

// BenchmarkSubmitStatements is what the database sees of one generation
// from its insert to fal's answer recorded, as the API and the worker send
// it: the insert, the one-statement reservation, RecordSubmitted, and then
// a finish that frees the slot for the next one.
func BenchmarkSubmitStatements(b *testing.B) {
	ctx := context.Background()
	pool := dbtest.Pool(b)
	input, err := fal.ParseImagePromptInput([]byte(`{"prompt": "a lighthouse at dusk, oil painting", "image_prompt_1": {"image_url": "https://example.com/reference.png"}}`))
	if err != nil {
		b.Fatal(err)
	}
	encoded, err := json.Marshal(input)
	if err != nil {
		b.Fatal(err)
	}
	insert := func() *store.Generation {
		g, err := store.InsertGeneration(ctx, pool, store.InsertGenerationParams{
			ID: uuid.Must(uuid.NewV7()), Client: "bench", EndpointID: fal.EndpointImagePrompt, Input: encoded, Priority: 2,
		})
		if err != nil {
			b.Fatal(err)
		}
		return g
	}
	limits := store.InflightLimits{Global: 4}
	// The general path creates the cap's slots, as in a running Easel.
	warm := insert()
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := store.ReserveSubmission(ctx, tx, warm.ID, warm.Client, limits)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := store.Fail(ctx, pool, warm.ID, "x", "frees its slot"); err != nil {
		b.Fatal(err)
	}

	position := 12
	cpu := dbtest.StartCPUMeter(ctx, b, pool)
	b.ReportAllocs()
	for b.Loop() {
		g := insert()
		reserved, err := store.ReserveFirstSubmission(ctx, pool, g.ID, limits)
		if err != nil || reserved == nil {
			b.Fatalf("reserve first submission: %v, %v", reserved, err)
		}
		// fal's status with its answer, as the worker records it.
		queued := store.FalStatus{Status: fal.StatusInQueue, QueuePosition: &position}
		if _, err := store.RecordSubmitted(ctx, pool, g.ID, store.Submission{RequestID: "req-" + g.ID.String(), FalStatus: queued}); err != nil {
			b.Fatal(err)
		}
		if _, err := store.Fail(ctx, pool, g.ID, "x", "frees its slot"); err != nil {
			b.Fatal(err)
		}
	}
	cpu.Report(b)
}
