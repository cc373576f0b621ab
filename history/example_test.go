package history_test

import (
	"context"
	"fmt"
	"log"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/easelhq/easel/history"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

// The recipes are README.md's reporting queries, each one statement a
// service can run as it is, through pgx as here or in psql. This history
// has three failures of the last 7 days; failures_by_code reports them by
// error code.
func ExampleRecipes() {
	ctx := context.Background()
	pool, drop, err := dbtest.ExampleDatabase(ctx) // Easel's database
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		if err := drop(); err != nil {
			log.Fatal(err)
		}
	}()
	fail(ctx, pool, "content_policy_violation", "the prompt was refused")
	fail(ctx, pool, "content_policy_violation", "the prompt was refused")
	fail(ctx, pool, "fal_error", "fal failed the request")

	recipes := history.Recipes()
	for _, r := range recipes {
		fmt.Println(r.Name)
	}

	byCode := recipes[slices.IndexFunc(recipes, func(r history.Recipe) bool { return r.Name == "failures_by_code" })]
	rows, err := pool.Query(ctx, byCode.SQL)
	if err != nil {
		log.Fatal(err)
	}
	var (
		code, message string
		count         int64
		share         float64
		lastSeen      time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&code, &count, &share, &lastSeen, &message}, func() error {
		fmt.Printf("%s: %d (%.2f%%) %q\n", code, count, 100*share, message)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}

	// Output:
	// nsfw_rate_per_day
	// time_to_complete_p50_p95
	// failures_by_code
	// images_per_client_per_day
	// stuck_generations
	// content_policy_violation: 2 (66.67%) "the prompt was refused"
	// fal_error: 1 (33.33%) "fal failed the request"
}

// fail enqueues a generation and fails it with code and message, as fal's
// error would.
func fail(ctx context.Context, pool *pgxpool.Pool, code, message string) {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		enqueued, err := jobs.Enqueue(ctx, tx, "shop", `{"image_prompt_1": {"image_url": "https://example.com/mug.png"}}`, nil)
		if err != nil {
			return err
		}
		_, err = store.Fail(ctx, tx, enqueued.Generation.ID, code, message)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
}
