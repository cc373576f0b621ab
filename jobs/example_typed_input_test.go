package jobs_test

import (
	"context"
	"fmt"
	"log"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/jobs"
)

// The input built in Go: fal.NewImagePromptInput holds fal's defaults, and
// Enqueue validates and stores it as it would the same input sent as JSON.
func ExampleEnqueue_typedInput() {
	ctx := context.Background()
	pool, drop := exampleDatabase(ctx)
	defer drop()

	input := fal.NewImagePromptInput("a ceramic mug, product photo", "https://example.com/mug.png")
	input.ImagePrompt1.Type = "PyraCanny"
	input.NumImages = 2

	tx, err := pool.Begin(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback(ctx)
	enqueued, err := jobs.Enqueue(ctx, tx, "shop", input, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		log.Fatal(err)
	}

	var performance, imageType string
	var images int
	err = pool.QueryRow(ctx, `SELECT input->>'performance', (input->>'num_images')::int, input->'image_prompt_1'->>'type'
		FROM generations WHERE id = $1`, enqueued.Generation.ID).Scan(&performance, &images, &imageType)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored:", performance, images, imageType)

	// Output:
	// stored: Extreme Speed 2 PyraCanny
}
