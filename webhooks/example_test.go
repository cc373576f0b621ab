package webhooks_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
	"github.com/easelhq/easel/webhooks"
)

// A service that serves fal's webhooks from its own Echo, under a prefix
// of its own, registers the receiver on a group and gives the workers that
// prefix at the end of PublicURL: fal calls <PublicURL>/webhooks/fal/{id}.
// The group carries none of the service's authentication, which fal's
// deliveries could not pass.
func ExampleReceiver_Register() {
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	pool, drop, err := dbtest.ExampleDatabase(ctx) // the service's database, which Easel's migrations have set up
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		if err := drop(); err != nil {
			log.Fatal(err)
		}
	}()

	// The simulator stands in for fal here; a service leaves QueueURL and
	// the JWKS URL empty, for fal's own, and sets Key to its FAL_KEY.
	sim, err := falsim.Start(ctx, "127.0.0.1:0", falsim.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer sim.Close()
	falClient := fal.NewClient(fal.ClientConfig{QueueURL: sim.QueueURL(), Key: "example-key"})
	verifier := fal.NewVerifier(fal.VerifierConfig{Keys: fal.NewJWKS(fal.JWKSConfig{URL: sim.JWKSURL()})})

	e := echo.New()
	webhooks.NewReceiver(pool, verifier, logger).Register(e.Group("/easel"))
	// delivered tells this example which path fal's delivery was answered
	// at; a service needs nothing of the kind.
	delivered := make(chan string, 1)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.ServeHTTP(w, r)
		select {
		case delivered <- r.URL.Path:
		default: // a request of the example's own, below
		}
	}))
	defer server.Close()

	client, err := jobs.NewRiverClient(pool, jobs.Config{Fal: falClient, PublicURL: server.URL + "/easel", Logger: logger})
	if err != nil {
		log.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := client.Stop(stopCtx); err != nil {
			log.Fatal(err)
		}
	}()

	enqueued, err := jobs.EnqueuePool(ctx, pool, "shop", `{
		"prompt": "a ceramic mug, product photo",
		"image_prompt_1": {"image_url": "https://example.com/mug.png"}
	}`, nil)
	if err != nil {
		log.Fatal(err)
	}
	id := enqueued.Generation.ID
	select {
	case path := <-delivered:
		fmt.Println("fal delivered to", strings.Replace(path, id.String(), "{id}", 1))
	case <-time.After(30 * time.Second):
		log.Fatal("no webhook within 30s")
	}
	gen, err := store.GetGeneration(ctx, pool, id)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("generation", gen.Status)

	// Without the prefix nothing serves the path: a PublicURL without it
	// would have fal's deliveries fail.
	resp, err := http.Post(server.URL+"/webhooks/fal/"+id.String(), "application/json", strings.NewReader("{}"))
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println("without the prefix:", resp.StatusCode)

	// Output:
	// fal delivered to /easel/webhooks/fal/{id}
	// generation completed
	// without the prefix: 404
}
