package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// leasePingEvery is how often a sessionLease pings its otherwise idle
// session. Managed Postgres services often set idle_session_timeout, which
// would end the session, and its locks, every time it ran out; and a
// session the server dropped without the socket saying so (a network
// partition) would go unnoticed for ever. One empty query every 10 s costs
// nothing, outlasts any idle timeout above it, and notices a dead session
// within leasePingEvery+leasePingTimeout.
const leasePingEvery = 10 * time.Second

// leasePingTimeout bounds a ping's answer: a session that has not answered
// an empty query by then is taken for dead.
const leasePingTimeout = 5 * time.Second

// sessionLease holds advisory locks on a database session of its own for
// as long as easel serve runs. They tell the processes sharing the
// database what this one is, whatever network namespace each runs in, and
// Postgres releases them when the session ends, however the process ends.
// One session holds all of a process's locks, so that each process keeps
// one connection open beyond its pool.
type sessionLease struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	// stopServing stops easel serve, as SIGTERM does, and has it return
	// the error: a lock taken again found a process this one must not run
	// with (leaseLock.recheck).
	stopServing func(error)
	// pingEvery is leasePingEvery; tests shorten it.
	pingEvery time.Duration
	// conn is the session until hold hands it to keep.
	conn  *pgx.Conn
	locks []leaseLock
	stop  context.CancelFunc
	done  chan struct{}
	once  sync.Once
}

// leaseLock is one lock a sessionLease holds.
type leaseLock struct {
	// name says, in log lines, which lock it is: "the in-process fal
	// simulator's lock".
	name string
	// lost says what may happen while a lost session's lock is not held.
	lost    string
	take    func(context.Context, *pgx.Conn) error
	release func(context.Context, *pgx.Conn) error
	// recheck, if set, runs each time the lock is taken again on a new
	// session, once every lock has been: while it was not held, a process
	// this one must not run with may have started. It returns a stopError
	// if one has, which stops this process, and any other error if it
	// could not tell, which counts as a lost session.
	recheck func(context.Context, *pgx.Conn) error
}

// stopError is why a lease stopped easel serve: Run returns err once shut
// down.
type stopError struct{ err error }

func (e stopError) Error() string { return e.err.Error() }
func (e stopError) Unwrap() error { return e.err }

// openLease opens the lease's session, which holds nothing yet: take adds
// locks, then hold keeps them until release. stopServing is called, at
// most once, with a stopError if a lock's recheck finds that this process
// must stop.
func openLease(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger, stopServing func(error)) (*sessionLease, error) {
	l := &sessionLease{pool: pool, logger: logger, stopServing: stopServing, pingEvery: leasePingEvery, done: make(chan struct{})}
	conn, err := l.connect(ctx)
	if err != nil {
		return nil, err
	}
	l.conn = conn
	return l, nil
}

// take takes lock on the lease's session; it must come before hold.
func (l *sessionLease) take(ctx context.Context, lock leaseLock) error {
	if err := lock.take(ctx, l.conn); err != nil {
		return err
	}
	l.locks = append(l.locks, lock)
	return nil
}

// hold keeps the lease's session, and its locks, until release.
func (l *sessionLease) hold(ctx context.Context) {
	keepCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	l.stop = stop
	go l.keep(keepCtx, l.conn)
	l.conn = nil
}

// release gives the locks up and closes the session. Later calls do
// nothing.
func (l *sessionLease) release() {
	l.once.Do(func() {
		if l.stop == nil { // never held: refused at start-up
			closeConn(l.conn)
			return
		}
		l.stop()
		<-l.done
	})
}

// connect opens a session, the pool's configuration without its pool, and
// takes the locks taken so far.
func (l *sessionLease) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, l.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("connect to hold easel serve's advisory locks: %w", err)
	}
	for _, lock := range l.locks {
		if err := lock.take(ctx, conn); err != nil {
			closeConn(conn)
			return nil, err
		}
	}
	return conn, nil
}

// keep holds the lease's session until ctx ends, then releases the locks.
// A lost session (Postgres restarted, a network failure, an idle timeout)
// has lost them: they are taken again on a new one, and meanwhile the
// processes starting may not see this one, as the log lines say; so each
// lock's recheck runs again then, and may stop this process.
func (l *sessionLease) keep(ctx context.Context, conn *pgx.Conn) {
	defer close(l.done)
	for {
		err := l.wait(ctx, conn)
		if ctx.Err() != nil {
			l.releaseLocks(conn)
			return
		}
		closeConn(conn)
		for _, lock := range l.locks {
			l.logger.Warn("lost the database session holding "+lock.name+"; until it is taken again, "+lock.lost, "error", err)
		}
		conn, err = l.reconnect(ctx)
		if conn == nil {
			return
		}
		if err != nil {
			// Held until Run, shutting down, releases the lease: this
			// process runs until then.
			l.logger.Error("stopping easel serve, as on SIGTERM: " + err.Error())
			l.stopServing(err)
			<-ctx.Done()
			l.releaseLocks(conn)
			return
		}
		for _, lock := range l.locks {
			l.logger.Info("took " + lock.name + " again")
		}
	}
}

// wait returns when ctx ends or the session is lost. The session, which
// nothing is ever notified on, is pinged every pingEvery (leasePingEvery
// says why).
func (l *sessionLease) wait(ctx context.Context, conn *pgx.Conn) error {
	for {
		waitCtx, cancel := context.WithTimeout(ctx, l.pingEvery)
		// Returns when waitCtx ends or as soon as the socket says that the
		// connection broke: a Postgres restart is noticed at once. Its
		// timeout leaves the connection usable.
		err := conn.PgConn().WaitForNotification(waitCtx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !pgconn.Timeout(err) {
			return err
		}
		pingCtx, cancel := context.WithTimeout(ctx, leasePingTimeout)
		err = conn.Ping(pingCtx)
		cancel()
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("ping the session: %w", err)
		}
	}
}

// releaseLocks gives the locks up, then closes conn.
func (l *sessionLease) releaseLocks(conn *pgx.Conn) {
	relCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, lock := range l.locks {
		if err := lock.release(relCtx, conn); err != nil {
			l.logger.Warn("could not release "+lock.name+"; Postgres releases it when the session ends", "error", err)
		}
	}
	closeConn(conn)
}

// reconnect takes the locks on a new session and rechecks them, trying
// until ctx ends, when it returns nil. The error is a recheck's stopError:
// this process must stop.
func (l *sessionLease) reconnect(ctx context.Context) (*pgx.Conn, error) {
	delay := 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(delay):
		}
		conn, err := l.connect(ctx)
		if err == nil {
			if err = l.recheck(ctx, conn); err == nil {
				return conn, nil
			}
			if errors.As(err, new(stopError)) {
				return conn, err
			}
			closeConn(conn)
		}
		l.logger.Debug("taking easel serve's advisory locks again", "error", err)
		delay = min(2*delay, 5*time.Second)
	}
}

// recheck runs the locks' rechecks on conn, which holds them.
func (l *sessionLease) recheck(ctx context.Context, conn *pgx.Conn) error {
	for _, lock := range l.locks {
		if lock.recheck == nil {
			continue
		}
		if err := lock.recheck(ctx, conn); err != nil {
			return err
		}
	}
	return nil
}
