package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

// A Go service enqueues a generation in its own transaction, next to its own
// writes: the generation exists if and only if the transaction commits.
func ExampleEnqueue() {
	ctx := context.Background()
	pool, drop := exampleDatabase(ctx) // the service's database, which Easel's migrations have set up
	defer drop()

	tx, err := pool.Begin(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback(ctx)

	// ... the service's own writes in tx: an order, say ...
	enqueued, err := jobs.Enqueue(ctx, tx, "shop", `{
		"prompt": "a ceramic mug, product photo",
		"image_prompt_1": {"image_url": "https://example.com/mug.png", "type": "PyraCanny"}
	}`, &jobs.EnqueueOpts{Priority: 1, IdempotencyKey: "order-1042", Metadata: []byte(`{"order_id": 1042}`)})
	if err != nil {
		log.Fatal(err) // a *fal.ValidationError names every invalid field
	}
	fmt.Println("enqueued:", enqueued.Generation.Status, "at priority", enqueued.Generation.Priority)
	printCounts(ctx, tx, "in the transaction")

	// The order fails; rolling back takes the generation and its job along.
	if err := tx.Rollback(ctx); err != nil {
		log.Fatal(err)
	}
	printCounts(ctx, pool, "after rollback")

	// Output:
	// enqueued: queued at priority 1
	// in the transaction: 1 generation, 1 job
	// after rollback: 0 generation, 0 job
}

// A service with nothing else to write enqueues in a transaction of
// EnqueuePool's own, validating the input first with ParseInput, so that a
// bad request is refused before anything touches the database and the
// input is not parsed twice.
func ExampleEnqueuePool() {
	ctx := context.Background()
	pool, drop := exampleDatabase(ctx)
	defer drop()

	if _, err := jobs.ParseInput(`{"prompt": "a mug", "image_prompt_1": {"image_url": "not a url"}}`); err != nil {
		fmt.Println("refused:", err)
	}

	input, err := jobs.ParseInput(`{
		"prompt": "a ceramic mug, product photo",
		"image_prompt_1": {"image_url": "https://example.com/mug.png"}
	}`)
	if err != nil {
		log.Fatal(err)
	}
	enqueued, err := jobs.EnqueuePool(ctx, pool, "shop", input, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("enqueued:", enqueued.Generation.Status)
	printCounts(ctx, pool, "committed")

	// Output:
	// refused: invalid input: image_prompt_1.image_url: must be an absolute http(s) URL or a base64 data: URI
	// enqueued: queued
	// committed: 1 generation, 1 job
}

// Validate names every invalid option by its Go name, and what is wrong
// inside the metadata by its path there, before anything is written.
func ExampleEnqueueOpts_Validate() {
	opts := &jobs.EnqueueOpts{
		Priority:       7,
		Metadata:       []byte(`{"order": {"id": 1042, "id": 1043}, "amounts": [1e400]}`),
		IdempotencyKey: "order\n1042",
	}
	var invalid *fal.ValidationError
	if err := opts.Validate(); errors.As(err, &invalid) {
		for _, f := range invalid.Fields {
			fmt.Printf("%s: %s\n", f.Field, f.Message)
		}
	}

	// Output:
	// Priority: must be an integer from 1 (highest) to 4 (lowest)
	// Metadata.order.id: duplicate field
	// Metadata.amounts[0]: number out of range: it must be within ±1.7976931348623157e308 (a 64-bit float) and have at most 16383 digits after the decimal point (Postgres's limit)
	// IdempotencyKey: must be at most 255 printable ASCII characters
}

func printCounts(ctx context.Context, db store.DBTX, when string) {
	var generations, jobs int
	err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM generations), (SELECT count(*) FROM river_job)`).Scan(&generations, &jobs)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d generation, %d job\n", when, generations, jobs)
}

// exampleDatabase is dbtest.ExampleDatabase, stopping the example on error.
func exampleDatabase(ctx context.Context) (*pgxpool.Pool, func()) {
	pool, drop, err := dbtest.ExampleDatabase(ctx)
	if err != nil {
		log.Fatal(err)
	}
	return pool, func() {
		if err := drop(); err != nil {
			log.Fatal(err)
		}
	}
}
