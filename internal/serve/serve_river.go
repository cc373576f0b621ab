package serve

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/metrics"
	"github.com/easelhq/easel/store"
)

// buildServices sets up what River and the HTTP server both use: tracing,
// callback delivery and metrics. Tracing stops after both have: its
// cleanup is registered before theirs.
func (s *server) buildServices(ctx context.Context) error {
	tracerProvider, stopTracing, err := setupTracing(ctx, s.cfg, s.logger)
	if err != nil {
		return err
	}
	s.tracerProvider = tracerProvider
	s.deferCleanup(stopTracing)
	s.deliverer, s.callbackURLs, err = newCallbacks(s.cfg, s.logger)
	if err != nil {
		return err
	}
	s.metrics = metrics.New(s.pool, metrics.Config{MaxInflight: s.cfg.MaxInflight, Logger: s.logger, Pool: s.pool})
	return nil
}

// buildFalClient builds the fal client and the webhook verifier. It comes
// once startSimulator has set which fal cfg names.
func (s *server) buildFalClient() {
	client := fal.NewClient(fal.ClientConfig{QueueURL: s.cfg.FalQueueURL, Key: s.cfg.FalKey, HTTPClient: s.falHTTPClient,
		Logger: s.logger, MediaExpiration: s.cfg.FalMediaExpiration, DisableStoreIO: s.cfg.FalDisableStoreIO})
	// Registered after the simulator's close, so run before it, once River
	// and the cancel sender, which registered theirs later, are done with
	// the client: the simulator's http.Server.Shutdown waits up to 5 s on
	// a connection the client dialled but never used (one another
	// connection served the call it was dialled for), and under load the
	// client keeps some.
	s.deferCleanup(client.CloseIdleConnections)
	// Every call to fal, whichever worker or request makes it, is counted.
	s.falClient = s.metrics.CountFal(client)
	s.verifier = fal.NewVerifier(fal.VerifierConfig{Keys: fal.NewJWKS(fal.JWKSConfig{URL: s.cfg.FalJWKSURL})})
}

// startRiver builds the River client, which the HTTP API enqueues and
// cancels with, and, with workers, starts it with the callback dispatcher
// and the fal cancel sender. It comes after claimSimulator, before River
// submits anything to the simulator, and before serveHTTP, which uses the
// client; its cleanups run after the HTTP server's.
func (s *server) startRiver(ctx context.Context) error {
	cfg, pool, logger, m := s.cfg, s.pool, s.logger, s.metrics
	riverClient, err := jobs.NewRiverClient(pool, jobs.Config{
		Fal:             s.falClient,
		PublicURL:       cfg.PublicURL,
		MaxWorkers:      cfg.Workers,
		Limits:          store.InflightLimits{Global: cfg.MaxInflight, PerClient: cfg.ClientMaxInflight},
		PollAfter:       cfg.PollAfter,
		Timeout:         cfg.Timeout,
		RescueAfter:     cfg.RescueAfter,
		Callbacks:       s.deliverer,
		CallbackWorkers: cfg.CallbackWorkers,
		Metrics:         m,
		Middleware:      riverTracing(s.tracerProvider),
		Publisher:       s.publisher,
		Logger:          logger,
	})
	if err != nil {
		return err
	}
	s.river = riverClient
	if !cfg.Role.runsWorkers() {
		return nil
	}
	// Sends a superseded request's cancel as soon as the webhook that
	// superseded it commits, rather than at the reconciler's next run.
	// Its listening connection is its own: notify.Listener takes one
	// channel, and finished's runs only with the HTTP API. Built before
	// River starts, so that nothing can fail between River's start and the
	// registering of its stop.
	cancelSender, err := jobs.NewFalCancelSender(pool, jobs.Config{Fal: s.falClient, PollAfter: cfg.PollAfter,
		Timeout: cfg.Timeout, RescueAfter: cfg.RescueAfter, Logger: logger})
	if err != nil {
		return err
	}
	// River cancels its running jobs when Start's context ends; the
	// shutdown stops it gracefully instead.
	if err := riverClient.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start River: %w", err)
	}
	// The callback dispatcher and the cancel sender outlive ctx, which
	// ends at SIGTERM: River's jobs may still finish for up to
	// shutdownTimeout after it, and what they finish or supersede is
	// dispatched and cancelled at once, not left to the next process's
	// dispatcher or reconciler, by which time fal has run and billed a
	// superseded request. They stop at cleanUp, which runs after
	// shutdown has stopped River; and, registered before River's stop,
	// after that stop too should start fail later on (cleanups run last
	// registered first).
	s.goUntilCleanUp(context.WithoutCancel(ctx), func(ctx context.Context) {
		jobs.NewCallbackDispatcher(pool, riverClient, logger).WithMetrics(m).Run(ctx)
	})
	s.goUntilCleanUp(context.WithoutCancel(ctx), cancelSender.Run)
	// After a shutdown it has stopped already, and this returns at once.
	s.deferCleanup(func() { stopRiver(riverClient, logger) })
	return nil
}

// stopRiver lets running jobs finish for shutdownTimeout, then cancels
// those still running and waits as long again for them to return.
func stopRiver(client *river.Client[pgx.Tx], logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := client.Stop(ctx)
	if err == nil {
		return
	}
	logger.Warn("jobs still running at the end of the shutdown timeout; cancelling them", "timeout", shutdownTimeout.String(), "error", err)
	ctx, cancel = context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := client.StopAndCancel(ctx); err != nil {
		logger.Error("cancelled jobs did not return; exiting anyway", "error", err)
	}
}
