package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/notify"
	"github.com/easelhq/easel/resource"
	"github.com/easelhq/easel/store"
	"github.com/easelhq/easel/webhooks"
)

// A Go service that serves Easel's /v1 API, fal's webhooks and the workers
// from its own binary makes one notify.Publisher and one notify.Listener on
// store.GenerationFinishedChannel, as easel serve does. Every component
// that finishes generations announces them with the Publisher; the Listener
// wakes the requests waiting with ?wait, in this process, whichever process
// finished the generation. Running the workers means running, beside the
// River client, a jobs.CallbackDispatcher and a jobs.FalCancelSender, as
// in jobs' ExampleNewRiverClient.
func ExampleHandler_WithListener() {
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	pool, drop := exampleDatabase(ctx) // the service's database, which Easel's migrations have set up
	defer drop()

	// One Publisher for the process, so that what its components finish
	// within a few milliseconds shares a notification. What it still holds
	// is sent before the pool closes.
	publisher := notify.NewPublisher(pool, store.GenerationFinishedChannel, logger)
	defer publisher.Flush(ctx)

	// One Listener for the process: one connection of its own, however
	// many requests wait. Stopping it answers the waiting requests at once.
	listener := notify.NewListener(pool, store.GenerationFinishedChannel, logger)
	listenCtx, stopListening := context.WithCancel(ctx)
	go listener.Run(listenCtx)
	defer func() {
		stopListening()
		<-listener.Done()
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

	// The API, here with no authentication, so that every caller is the
	// one client AnonymousClient: a service puts it behind its own, which
	// names the client (see ExampleSetClientName), or Auth.RequireKey. And
	// fal's webhooks, at the URL given the workers as PublicURL.
	e := echo.New()
	e.HTTPErrorHandler = api.ErrorHandler(logger)
	server := httptest.NewServer(e)
	defer server.Close()
	riverClient, err := jobs.NewRiverClient(pool, jobs.Config{
		Fal: falClient, PublicURL: server.URL, Publisher: publisher, Logger: logger,
	})
	if err != nil {
		log.Fatal(err)
	}
	canceller := jobs.NewCanceller(pool, riverClient, falClient, logger).WithPublisher(publisher)
	api.NewHandler(pool, logger).WithListener(listener).WithCanceller(canceller).Register(e.Group("/v1"))
	webhooks.NewReceiver(pool, verifier, logger).WithPublisher(publisher).Register(e)

	if err := riverClient.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := riverClient.Stop(stopCtx); err != nil {
			log.Fatal(err)
		}
	}()
	// Beside the started client until it stops (these deferred stops run
	// before its own): the dispatcher that turns owed callbacks into
	// delivery jobs, without which no callback is ever sent (deliveries
	// also need jobs.Config.Callbacks), and the sender that cancels at fal,
	// at once, a request another submission's result made needless.
	cancelSender, err := jobs.NewFalCancelSender(pool, jobs.Config{Fal: falClient, Logger: logger})
	if err != nil {
		log.Fatal(err)
	}
	runCtx, stopRunning := context.WithCancel(ctx)
	var running sync.WaitGroup
	running.Go(func() { jobs.NewCallbackDispatcher(pool, riverClient, logger).Run(runCtx) })
	running.Go(func() { cancelSender.Run(runCtx) })
	defer func() {
		stopRunning()
		running.Wait()
	}()

	enqueued, err := jobs.EnqueuePool(ctx, pool, "shop", `{
		"prompt": "a ceramic mug, product photo",
		"image_prompt_1": {"image_url": "https://example.com/mug.png"}
	}`, nil)
	if err != nil {
		log.Fatal(err)
	}

	// The request is answered once fal's webhook has completed the
	// generation, rather than after the whole 30 seconds: without
	// WithListener, ?wait would answer at once, with the generation still
	// queued or submitted.
	resp, err := http.Get(server.URL + "/v1/generations/" + enqueued.Generation.ID.String() + "?wait=30s")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var gen resource.Generation
	if err := json.NewDecoder(resp.Body).Decode(&gen); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, gen.Status, "with", len(gen.Images), "image")
	fmt.Println(api.WaitTimedOutHeader+":", resp.Header.Get(api.WaitTimedOutHeader))

	// Refusals come back in docs/API.md's error shape through api.ErrorHandler.
	resp, err = http.Get(server.URL + "/v1/generations/" + uuid.NewString())
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var refusal struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&refusal); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, refusal.Error.Code)

	// Output:
	// 200 completed with 1 image
	// Easel-Wait-Timed-Out: false
	// 404 not_found
}

// A service mounts the API in its own Echo, under a path of its own,
// behind its own authentication, which names each caller with
// SetClientName: the client of what the caller enqueues, counted by its
// own EASEL_CLIENT_MAX_PENDING cap. Location follows the path. Mounted on
// e.Group("/easel") too, the webhook receiver needs PublicURL to end in
// /easel.
func ExampleSetClientName() {
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	pool, drop := exampleDatabase(ctx)
	defer drop()

	teams := map[string]string{"token-acme": "acme"} // the service's own credentials
	teamAuth := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			team, ok := teams[strings.TrimPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")]
			if !ok {
				return echo.NewHTTPError(http.StatusUnauthorized, "unknown team")
			}
			if err := api.SetClientName(c, team); err != nil {
				return err
			}
			return next(c)
		}
	}
	e := echo.New()
	e.HTTPErrorHandler = api.ErrorHandler(logger)
	api.NewHandler(pool, logger).WithMaxPending(1000).Register(e.Group("/easel/v1"), teamAuth)
	server := httptest.NewServer(e)
	defer server.Close()

	// As a client of the service: team acme, with the service's token.
	send := func(method, path, body string) (*http.Response, resource.Generation) {
		req, err := http.NewRequestWithContext(ctx, method, server.URL+path, strings.NewReader(body))
		if err != nil {
			log.Fatal(err)
		}
		req.Header.Set(echo.HeaderAuthorization, "Bearer token-acme")
		req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		var gen resource.Generation
		if err := json.NewDecoder(resp.Body).Decode(&gen); err != nil {
			log.Fatal(err)
		}
		return resp, gen
	}
	resp, gen := send(http.MethodPost, "/easel/v1/generations", `{"image_prompt_1": {"image_url": "https://example.com/mug.png"}}`)
	location := resp.Header.Get(echo.HeaderLocation)
	fmt.Println(resp.StatusCode, gen.Client, strings.TrimSuffix(location, gen.ID.String()))
	resp, gen = send(http.MethodGet, location, "")
	fmt.Println(resp.StatusCode, gen.Client, gen.Status)

	// Output:
	// 202 acme /easel/v1/generations/
	// 200 acme queued
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
