package serve

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/easelhq/easel/fal/falsim"
)

// SimulatorKey is the FAL_KEY Easel uses against its in-process simulator.
const SimulatorKey = "easel-simulator:not-a-secret"

// simulatorFilesPath is where easel serve serves the images of its
// in-process simulator, below EASEL_PUBLIC_URL.
const simulatorFilesPath = "/_sim/files"

// SimulatorConfig is the in-process simulator easel serve starts without
// FAL_KEY: fault-free, with enough latency to watch a generation progress.
func SimulatorConfig(logger *slog.Logger) falsim.Config {
	return falsim.Config{
		Latency: falsim.Latency{Min: 500 * time.Millisecond, Max: 2 * time.Second},
		Logger:  logger,
	}
}

// chooseFal reads which fal this process talks to. It comes first, before
// startSimulator replaces FalKey with SimulatorKey.
func (s *server) chooseFal() {
	s.mode = falModeOf(s.cfg)
	if s.cfg.FalKey == "" {
		s.simCfg = SimulatorConfig(s.logger)
		if s.cfg.Simulator != nil {
			s.simCfg = *s.cfg.Simulator
		}
		// Said first, before the database is created and migrated, so that
		// nobody mistakes a local run for one that pays fal.
		s.logger.Info("FAL_KEY is unset: using the in-process fal simulator; no request reaches fal.ai", "faults", s.simCfg.Summary())
	}
}

// startSimulator starts the in-process simulator without FAL_KEY, and
// points cfg's fal at it. It comes once the listener has set PublicURL,
// which its image URLs name, and before anything builds a fal client.
func (s *server) startSimulator(ctx context.Context) error {
	if s.cfg.FalKey != "" {
		return nil
	}
	// The simulator's own port is loopback and new at every start, so
	// image URLs on it would die with the process and never reach a
	// browser outside a container. They point at this listener
	// instead, as users reach it: the files are rendered from their
	// paths, so a URL stored before a restart still loads after it.
	if s.simCfg.FilesURL == "" {
		s.simCfg.FilesURL = s.cfg.PublicURL + simulatorFilesPath
	}
	// It closes when its context ends; a shutdown closes it last
	// instead, once the jobs calling it have finished.
	sim, err := falsim.Start(context.WithoutCancel(ctx), "127.0.0.1:0", s.simCfg)
	if err != nil {
		return fmt.Errorf("start fal simulator: %w", err)
	}
	s.deferCleanup(sim.Close)
	s.cfg.FalKey, s.cfg.FalQueueURL, s.cfg.FalJWKSURL = SimulatorKey, sim.QueueURL(), sim.JWKSURL()
	// simFiles serves the simulator's images on this listener.
	s.simFiles = http.StripPrefix(simulatorFilesPath, sim.Sim.FilesHandler())
	s.logger.Info("fal simulator started", "fal_queue_url", s.cfg.FalQueueURL, "files_url", s.simCfg.FilesURL)
	return nil
}

// claimSimulator comes before River submits anything to the in-process
// simulator: it fails what earlier simulators left, which can never finish,
// and claims this one's generations (simulator_restart.go). It needs the
// publisher and metrics, to announce and count what it fails.
func (s *server) claimSimulator(ctx context.Context) error {
	if s.simFiles == nil {
		return nil
	}
	lease, err := holdSimulator(ctx, s.session, s.cfg.FalQueueURL, s.publisher, s.metrics, s.logger)
	if err != nil {
		return err
	}
	// Run after River and the HTTP server have stopped: what the
	// simulator still holds then can never finish.
	s.deferCleanup(lease.release)
	return nil
}
