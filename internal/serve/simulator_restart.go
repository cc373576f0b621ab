package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/easelhq/easel/metrics"
	"github.com/easelhq/easel/notify"
	"github.com/easelhq/easel/store"
)

// ErrorCodeSimulatorRestarted is the error code of a generation failed
// because the fal simulator it was submitted to no longer runs: easel
// serve's in-process simulator keeps its requests in memory and listens on
// a new port at every start, so nothing can ever finish them, and without
// this they would wait EASEL_TIMEOUT for a timeout.
const ErrorCodeSimulatorRestarted = "simulator_restarted"

// simulatorRestartedMessage is the error message of a generation failed
// with ErrorCodeSimulatorRestarted, its request having been on the
// simulator at queueHost.
func simulatorRestartedMessage(queueHost string) string {
	return "its request was on the fal simulator at " + queueHost + ", which no longer runs: " +
		"easel serve's in-process simulator (like easel sim) keeps its requests in memory only, and listens on a new port at every start, " +
		"so the request was lost when the process stopped; nothing was billed, since the simulator is not fal: enqueue the generation again"
}

// simulatorLease is a running in-process simulator's claim, in Postgres,
// to the generations submitted to it (store.HoldSimulator): while it is
// held, no easel serve sharing the database fails them, whatever network
// namespace each runs in, where a connection to the simulator's loopback
// address would only say whether one runs in the same namespace.
type simulatorLease struct {
	queueHost string
	pool      *pgxpool.Pool
	publisher *notify.Publisher
	metrics   *metrics.Metrics
	logger    *slog.Logger
	stop      context.CancelFunc
	done      chan struct{}
}

// holdSimulator is what easel serve does once its in-process simulator
// listens at queueURL, before River starts submitting to it: it fails the
// generations left on simulators that no longer run, then holds the lease
// until release. Only a lease it cannot take is an error: without it, another
// process could fail this one's generations.
func holdSimulator(ctx context.Context, pool *pgxpool.Pool, queueURL string, publisher *notify.Publisher, m *metrics.Metrics, logger *slog.Logger) (*simulatorLease, error) {
	u, err := url.Parse(queueURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("in-process fal simulator's queue URL %q has no host", queueURL)
	}
	l := &simulatorLease{queueHost: u.Host, pool: pool, publisher: publisher, metrics: m, logger: logger, done: make(chan struct{})}
	// Failing to sweep only leaves those generations to EASEL_TIMEOUT, as
	// before: no reason to refuse to start.
	if err := sweepStoppedSimulators(ctx, pool, l.queueHost, acceptsConnections, publisher, m, logger); err != nil {
		logger.Warn("could not fail the generations left on stopped fal simulators; they time out after EASEL_TIMEOUT", "error", err)
	}
	conn, err := l.connect(ctx)
	if err != nil {
		return nil, err
	}
	keepCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	l.stop = stop
	go l.keep(keepCtx, conn)
	return l, nil
}

// connect opens the lease's own session, the pool's configuration without
// its pool, and takes the lock.
func (l *simulatorLease) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, l.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("connect to hold the in-process fal simulator's lock: %w", err)
	}
	if err := store.HoldSimulator(ctx, conn, l.queueHost); err != nil {
		closeConn(conn)
		return nil, err
	}
	return conn, nil
}

// keep holds the lease's session until ctx ends, then releases the lock.
// A lost session (Postgres restarted) has lost the lock: it is taken again
// on a new one, and meanwhile a process starting could fail this one's
// generations, as the log line says.
func (l *simulatorLease) keep(ctx context.Context, conn *pgx.Conn) {
	defer close(l.done)
	for {
		// Nothing is ever notified on this session: this returns when ctx
		// ends or the connection breaks, the first at once and the second
		// as soon as the socket says so.
		err := conn.PgConn().WaitForNotification(ctx)
		if ctx.Err() != nil {
			relCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := store.ReleaseSimulator(relCtx, conn, l.queueHost); err != nil {
				l.logger.Warn("could not release the in-process fal simulator's lock; Postgres releases it when the session ends", "error", err)
			}
			cancel()
			closeConn(conn)
			return
		}
		closeConn(conn)
		l.logger.Warn("lost the database session holding the in-process fal simulator's lock; until it is taken again, "+
			"an easel serve starting on this database may fail this simulator's generations with "+ErrorCodeSimulatorRestarted, "error", err)
		if conn = l.reconnect(ctx); conn == nil {
			return
		}
		l.logger.Info("took the in-process fal simulator's lock again")
	}
}

// reconnect takes the lock on a new session, trying until ctx ends, when
// it returns nil.
func (l *simulatorLease) reconnect(ctx context.Context) *pgx.Conn {
	delay := 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		conn, err := l.connect(ctx)
		if err == nil {
			return conn
		}
		l.logger.Debug("taking the in-process fal simulator's lock again", "error", err)
		delay = min(2*delay, 5*time.Second)
	}
}

// release, called once River and the HTTP server have stopped, so that
// nothing submits to the simulator or hears from it any more, gives up the
// lease and fails the generations still submitted to the simulator: they
// can never finish now. A process that stops without calling it (killed)
// leaves them to the next start's sweep.
func (l *simulatorLease) release() {
	l.stop()
	<-l.done
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	failed, alive, err := store.FailStoppedSimulator(ctx, l.pool, l.queueHost, ErrorCodeSimulatorRestarted, simulatorRestartedMessage(l.queueHost))
	switch {
	case err != nil:
		l.logger.Warn("could not fail the generations left on the in-process fal simulator; the next easel serve without FAL_KEY fails them", "error", err)
	case alive:
		// Another process's simulator has the same address in its own
		// network namespace: the generations may be its.
		l.logger.Info("generations on the in-process fal simulator's address are left to another live simulator with that address",
			"fal_queue_host", l.queueHost)
	case len(failed) > 0:
		announceFailed(l.publisher, l.metrics, failed)
		l.logger.Warn("failed the generations still submitted to the in-process fal simulator, which keeps no state across restarts; nothing was billed",
			"generations", len(failed), "error_code", ErrorCodeSimulatorRestarted, "fal_queue_host", l.queueHost)
	}
}

// announceFailed announces the generations this process failed with
// ErrorCodeSimulatorRestarted, and counts them.
func announceFailed(publisher *notify.Publisher, m *metrics.Metrics, ids []uuid.UUID) {
	for _, id := range ids {
		publisher.Publish(id.String())
		m.GenerationFailed(ErrorCodeSimulatorRestarted)
	}
}

// sweepStoppedSimulators fails, with ErrorCodeSimulatorRestarted, the
// submitted generations whose requests were on a local fal simulator that
// no longer runs, and logs one line saying how many.
//
// A simulator is known by its queue host (fal_status_url's host:port),
// and only loopback ones are considered: fal is never on loopback. The one
// at ownHost has just started and holds no request yet, so what is
// submitted to that address was submitted to an earlier simulator that had
// it. Any other is left alone while something accepts connections at its
// address (acceptsConnections: an easel sim, a simulator of an older easel
// serve, or an unrelated server on a reused port: when in doubt, the
// generations keep waiting for EASEL_TIMEOUT, as before), and, in any
// case, while a live easel serve holds its lock (store.FailStoppedSimulator).
func sweepStoppedSimulators(ctx context.Context, pool *pgxpool.Pool, ownHost string,
	acceptsConnections func(context.Context, string) bool, publisher *notify.Publisher, m *metrics.Metrics, logger *slog.Logger,
) error {
	hosts, err := store.SubmittedQueueHosts(ctx, pool)
	if err != nil {
		return err
	}
	var (
		finished      int
		stopped, left []string
	)
	for _, host := range hosts {
		if !isLoopbackHost(host) {
			continue
		}
		if host != ownHost && acceptsConnections(ctx, host) {
			left = append(left, host)
			continue
		}
		failed, alive, err := store.FailStoppedSimulator(ctx, pool, host, ErrorCodeSimulatorRestarted, simulatorRestartedMessage(host))
		if err != nil {
			return err
		}
		if alive {
			left = append(left, host)
			continue
		}
		announceFailed(publisher, m, failed)
		if len(failed) > 0 {
			finished += len(failed)
			stopped = append(stopped, host)
		}
	}
	switch {
	case finished > 0:
		logger.Warn("failed the generations submitted to fal simulators that no longer run: "+
			"the in-process simulator keeps no state across restarts, so they could never finish; nothing was billed",
			"generations", finished, "error_code", ErrorCodeSimulatorRestarted, "fal_queue_hosts", stopped, "left_to_live_simulators", left)
	case len(left) > 0:
		logger.Info("no generations left on stopped fal simulators; those of live ones are left alone", "left_to_live_simulators", left)
	}
	return nil
}

// isLoopbackHost reports whether hostPort names a loopback address.
func isLoopbackHost(hostPort string) bool {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		host = hostPort
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// acceptsConnections reports whether anything may be listening at
// hostPort: only a refused connection says that nothing is.
func acceptsConnections(ctx context.Context, hostPort string) bool {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "tcp", hostPort)
	if err == nil {
		_ = conn.Close()
		return true
	}
	return !errors.Is(err, syscall.ECONNREFUSED)
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}
