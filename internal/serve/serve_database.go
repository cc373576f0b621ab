package serve

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/easelhq/easel/internal/dbwait"
	"github.com/easelhq/easel/migrations"
	"github.com/easelhq/easel/notify"
	"github.com/easelhq/easel/store"
)

// DefaultDBMaxConns is EASEL_DB_MAX_CONNS's default for a process with
// workers River workers: one connection per worker, which holds it across
// its short transactions, and some for HTTP requests and River's own
// maintenance. pgxpool's default, max(4, CPUs), had 16 workers and every
// HTTP request share 4 connections. At today's throughput the two measured
// alike (docs/BENCHMARKS.md); the larger pool keeps the pool from becoming
// the limit as statements get cheaper.
func DefaultDBMaxConns(workers int) int { return workers + 8 }

// migrate creates the database if need be and migrates it, waiting for
// Postgres to accept connections (database_wait.go). It comes once the
// listener answers /healthz (listen), since it may take a long while, and
// before the pool opens: a pool on a database that does not exist yet, or
// on an older schema, would fail or misread it.
func (s *server) migrate(ctx context.Context) error {
	cfg, logger := s.cfg, s.logger
	migrate := func(ctx context.Context) error {
		if created, err := migrations.EnsureDatabase(ctx, cfg.DatabaseURL); err != nil {
			return err
		} else if created {
			name, _ := migrations.DatabaseName(cfg.DatabaseURL) // parsed already
			logger.Info("created database", "database", name)
		}
		return migrations.Up(ctx, cfg.DatabaseURL, logger)
	}
	connCfg, err := migrations.ConnConfig(cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("connect to the database: %w", err)
	}
	wait := dbwait.AtStart()
	wait.Reachable = "database reachable; starting"
	return prepareDatabase(ctx, wait, dbwait.Connect(connCfg), migrate, logger)
}

// connect opens the pool every later step uses. Closing it is the last
// cleanup: everything after it runs on it, the publisher's final flush
// included.
func (s *server) connect(ctx context.Context) error {
	poolCfg, err := poolConfig(s.cfg)
	if err != nil {
		return err
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return fmt.Errorf("connect to database: %w", err)
	}
	s.pool = pool
	s.deferCleanup(pool.Close)
	return nil
}

// defaultConnectTimeout bounds each new connection of the pool, from the
// dial to the end of authentication, unless DATABASE_URL's connect_timeout
// (or PGCONNECT_TIMEOUT) says otherwise. Without it a Postgres that accepts
// connections and never answers holds every request needing a new
// connection until the request's own deadline, minutes for a long poll.
const defaultConnectTimeout = 5 * time.Second

// poolConfig is the configuration of cfg's pool, DATABASE_URL's with
// Easel's defaults where it says nothing.
func poolConfig(cfg Config) (*pgxpool.Config, error) {
	poolCfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	// EASEL_DB_MAX_CONNS wins; a DATABASE_URL shared with a service's own
	// pgxpool may say pool_max_conns instead, and is honoured then.
	switch {
	case cfg.DBMaxConns > 0:
		poolCfg.MaxConns = int32(cfg.DBMaxConns)
	case !strings.Contains(cfg.DatabaseURL, "pool_max_conns"):
		poolCfg.MaxConns = int32(DefaultDBMaxConns(cfg.Workers))
	}
	// An explicit connect_timeout=0, libpq's "wait forever", is kept too.
	if poolCfg.ConnConfig.ConnectTimeout == 0 && !strings.Contains(cfg.DatabaseURL, "connect_timeout") {
		poolCfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	poolCfg.AfterConnect = store.RegisterTypes
	setApplicationName(poolCfg.ConnConfig, cfg.Role)
	return poolCfg, nil
}

// openSession opens the process's session lease and runs guardFalMode on
// it. It comes first once the pool is open, before this process changes a
// generation or submits anything: a process submitting to fal and one
// submitting to its simulator must never share a database
// (fal_mode_guard.go). The session also holds the simulator's lock, taken
// later (claimSimulator).
func (s *server) openSession(ctx context.Context) error {
	if s.mode == 0 && s.cfg.FalKey != "" {
		return nil
	}
	session, err := openLease(ctx, s.pool, s.logger, s.stopServing)
	if err != nil {
		return err
	}
	s.session = session
	// Registered this early, it runs once River has stopped; a
	// simulatorLease releases it sooner.
	s.deferCleanup(session.release)
	if err := guardFalMode(ctx, session, s.mode); err != nil {
		return err
	}
	if s.cfg.FalKey != "" { // no simulator, whose lock holdSimulator adds
		session.hold(ctx)
	}
	return nil
}

// startPublisher starts what announces every generation this process
// finishes, so that those finished within a few milliseconds share a
// notification. It comes before anything that finishes one, and what it
// still holds at shutdown is sent before the pool closes.
func (s *server) startPublisher() {
	publisher := notify.NewPublisher(s.pool, store.GenerationFinishedChannel, s.logger)
	s.publisher = publisher
	s.deferCleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		_ = publisher.Flush(ctx)
	})
}
