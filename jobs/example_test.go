package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/easelhq/easel/callbacks"
	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/migrations"
	"github.com/easelhq/easel/resource"
	"github.com/easelhq/easel/store"
	"github.com/easelhq/easel/webhooks"
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

// Easel lives in a schema of its own in the service's database, as
// easel migrate up with search_path=easel in DATABASE_URL sets it up. The
// service's pool keeps its own search_path, where its tables (and its own
// River, if it has one) are; Schema tells Enqueue where Easel is, and the
// transaction's search_path is the service's again once Enqueue returns.
func ExampleEnqueue_schema() {
	ctx := context.Background()
	databaseURL, drop := exampleSchemaDB(ctx) // the service's database: its own tables in public
	defer drop()

	pool, err := pgxpool.New(ctx, databaseURL) // the service's pool, search_path unchanged
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `CREATE TABLE orders (id bigint PRIMARY KEY)`); err != nil {
		log.Fatal(err)
	}

	tx, err := pool.Begin(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO orders (id) VALUES (1042)`); err != nil {
		log.Fatal(err)
	}
	enqueued, err := jobs.Enqueue(ctx, tx, "shop", `{
		"prompt": "a ceramic mug, product photo",
		"image_prompt_1": {"image_url": "https://example.com/mug.png", "type": "PyraCanny"}
	}`, &jobs.EnqueueOpts{Schema: "easel", IdempotencyKey: "order-1042"})
	if err != nil {
		log.Fatal(err)
	}
	var searchPath string
	if err := tx.QueryRow(ctx, `SHOW search_path`).Scan(&searchPath); err != nil {
		log.Fatal(err)
	}
	fmt.Println("enqueued:", enqueued.Generation.Status, "- search_path afterwards:", searchPath)
	if err := tx.Commit(ctx); err != nil {
		log.Fatal(err)
	}

	var orders, generations, riverJobs int
	err = pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM orders),
		(SELECT count(*) FROM easel.generations), (SELECT count(*) FROM easel.river_job)`).Scan(&orders, &generations, &riverJobs)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("committed: %d order in public; %d generation, %d job in easel\n", orders, generations, riverJobs)

	// Output:
	// enqueued: queued - search_path afterwards: "$user", public
	// committed: 1 order in public; 1 generation, 1 job in easel
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

// A Go service can run Easel's workers in its own process, instead of
// easel serve --role worker. Beside the River client, from its start until
// it is stopped, it runs a CallbackDispatcher, which turns the callbacks
// the database owes into the client's delivery jobs (without one no
// callback is ever sent), and a FalCancelSender, which cancels at fal, as
// soon as it is queued, a request that another submission's result made
// needless (otherwise fal runs, and bills, it until the reconciler's next
// run). easel serve runs both beside its workers.
func ExampleNewRiverClient() {
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	pool, drop := exampleDatabase(ctx)
	defer drop()

	// The simulator stands in for fal here; a service leaves QueueURL and
	// the JWKS URL empty, for fal's own, and sets Key to its FAL_KEY.
	sim, err := falsim.Start(ctx, "127.0.0.1:0", falsim.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer sim.Close()
	falClient := fal.NewClient(fal.ClientConfig{QueueURL: sim.QueueURL(), Key: "example-key"})

	// PublicURL is where fal's webhooks reach an easel serve of role all or
	// api; here a receiver of this process stands in for it.
	e := echo.New()
	webhooks.NewReceiver(pool, fal.NewVerifier(fal.VerifierConfig{Keys: fal.NewJWKS(fal.JWKSConfig{URL: sim.JWKSURL()})}), logger).Register(e)
	hooks := httptest.NewServer(e)
	defer hooks.Close()

	// The caller's endpoint, which a real one would verify with its
	// client's secret (see callbacks.Signer).
	received := make(chan store.Status, 1)
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var gen resource.Generation
		if err := json.NewDecoder(r.Body).Decode(&gen); err != nil {
			http.Error(w, "not a generation", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		select {
		case received <- gen.Status:
		default: // a retry
		}
	}))
	defer endpoint.Close()
	secrets, err := callbacks.ParseSecrets("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") // EASEL_CALLBACK_SECRET
	if err != nil {
		log.Fatal(err)
	}

	cfg := jobs.Config{
		Fal: falClient, PublicURL: hooks.URL, Logger: logger,
		Callbacks: callbacks.NewDeliverer(secrets, &callbacks.Policy{AllowPrivate: true}), // the endpoint is on loopback
	}
	client, err := jobs.NewRiverClient(pool, cfg)
	if err != nil {
		log.Fatal(err)
	}
	cancelSender, err := jobs.NewFalCancelSender(pool, cfg)
	if err != nil {
		log.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	runCtx, stopRunning := context.WithCancel(ctx)
	var running sync.WaitGroup
	running.Go(func() { jobs.NewCallbackDispatcher(pool, client, logger).Run(runCtx) })
	running.Go(func() { cancelSender.Run(runCtx) })
	defer func() {
		// Both stop before the client does, as in easel serve.
		stopRunning()
		running.Wait()
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := client.Stop(stopCtx); err != nil {
			log.Fatal(err)
		}
	}()

	_, err = jobs.EnqueuePool(ctx, pool, "shop", `{
		"prompt": "a ceramic mug, product photo",
		"image_prompt_1": {"image_url": "https://example.com/mug.png"}
	}`, &jobs.EnqueueOpts{CallbackURL: endpoint.URL})
	if err != nil {
		log.Fatal(err)
	}
	select {
	case status := <-received:
		fmt.Println("callback:", status)
	case <-time.After(30 * time.Second):
		log.Fatal("no callback within 30s")
	}

	// Output:
	// callback: completed
}

func printCounts(ctx context.Context, db store.DBTX, when string) {
	var generations, jobs int
	err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM generations), (SELECT count(*) FROM river_job)`).Scan(&generations, &jobs)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d generation, %d job\n", when, generations, jobs)
}

// exampleSchemaDB creates a database and migrates Easel into its schema
// easel, stopping the example on error; it returns the database's URL,
// without search_path, and a function that drops it.
func exampleSchemaDB(ctx context.Context) (string, func()) {
	databaseURL, drop, err := dbtest.EmptyExampleDatabase(ctx)
	if err != nil {
		log.Fatal(err)
	}
	easelURL, err := withSearchPath(databaseURL, "easel")
	if err == nil {
		err = migrations.Up(ctx, easelURL, nil)
	}
	if err != nil {
		log.Fatal(errors.Join(err, drop()))
	}
	return databaseURL, func() {
		if err := drop(); err != nil {
			log.Fatal(err)
		}
	}
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
