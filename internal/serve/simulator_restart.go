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

// simulatorRestartedMessage is the error message of a generation failed
// with store.ErrorCodeSimulatorRestarted, its request having been on the
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
// address would only say whether one runs in the same namespace. Its lock
// is held on the process's sessionLease.
type simulatorLease struct {
	queueHost string
	session   *sessionLease
	publisher *notify.Publisher
	metrics   *metrics.Metrics
	logger    *slog.Logger
}

// holdSimulator is what easel serve does once its in-process simulator
// listens at queueURL, before River starts submitting to it: it fails the
// generations left on simulators that no longer run, then takes the
// simulator's lock on session, which it holds until release. Only a lock it
// cannot take is an error: without it, another process could fail this
// one's generations.
func holdSimulator(ctx context.Context, session *sessionLease, queueURL string, publisher *notify.Publisher, m *metrics.Metrics, logger *slog.Logger) (*simulatorLease, error) {
	u, err := url.Parse(queueURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("in-process fal simulator's queue URL %q has no host", queueURL)
	}
	l := &simulatorLease{queueHost: u.Host, session: session, publisher: publisher, metrics: m, logger: logger}
	// Failing to sweep only leaves those generations to EASEL_TIMEOUT, as
	// before: no reason to refuse to start. It comes before the lock, which
	// would have its own address's generations taken for a live
	// simulator's.
	if err := sweepStoppedSimulators(ctx, session.pool, l.queueHost, acceptsConnections, publisher, m, logger); err != nil {
		logger.Warn("could not fail the generations left on stopped fal simulators; they time out after EASEL_TIMEOUT", "error", err)
	}
	err = session.take(ctx, leaseLock{
		name: "the in-process fal simulator's lock",
		lost: "an easel serve starting on this database may fail this simulator's generations with " + store.ErrorCodeSimulatorRestarted,
		take: func(ctx context.Context, conn *pgx.Conn) error { return store.HoldSimulator(ctx, conn, l.queueHost) },
		release: func(ctx context.Context, conn *pgx.Conn) error {
			return store.ReleaseSimulator(ctx, conn, l.queueHost)
		},
	})
	if err != nil {
		return nil, err
	}
	session.hold(ctx)
	return l, nil
}

// release, called once River and the HTTP server have stopped, so that
// nothing submits to the simulator or hears from it any more, gives up the
// lease and fails the generations still submitted to the simulator: they
// can never finish now. A process that stops without calling it (killed)
// leaves them to the next start's sweep.
func (l *simulatorLease) release() {
	l.session.release()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	failed, alive, err := store.FailStoppedSimulator(ctx, l.session.pool, l.queueHost, store.ErrorCodeSimulatorRestarted, simulatorRestartedMessage(l.queueHost))
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
			"generations", len(failed), "error_code", store.ErrorCodeSimulatorRestarted, "fal_queue_host", l.queueHost)
	}
}

// announceFailed announces the generations this process failed with
// store.ErrorCodeSimulatorRestarted, and counts them.
func announceFailed(publisher *notify.Publisher, m *metrics.Metrics, ids []uuid.UUID) {
	for _, id := range ids {
		publisher.Publish(id.String())
		m.GenerationFailed(store.ErrorCodeSimulatorRestarted)
	}
}

// sweepStoppedSimulators fails, with store.ErrorCodeSimulatorRestarted, the
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
		failed, alive, err := store.FailStoppedSimulator(ctx, pool, host, store.ErrorCodeSimulatorRestarted, simulatorRestartedMessage(host))
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
			"generations", finished, "error_code", store.ErrorCodeSimulatorRestarted, "fal_queue_hosts", stopped, "left_to_live_simulators", left)
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
