package serve

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// sessionLease holds advisory locks on a database session of its own for
// as long as easel serve runs. They tell the processes sharing the
// database what this one is, whatever network namespace each runs in, and
// Postgres releases them when the session ends, however the process ends.
// One session holds all of a process's locks, so that each process keeps
// one connection open beyond its pool.
type sessionLease struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
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
}

// openLease opens the lease's session, which holds nothing yet: take adds
// locks, then hold keeps them until release.
func openLease(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) (*sessionLease, error) {
	l := &sessionLease{pool: pool, logger: logger, done: make(chan struct{})}
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
// A lost session (Postgres restarted) has lost them: they are taken again
// on a new one, and meanwhile the processes starting may not see this one,
// as the log lines say.
func (l *sessionLease) keep(ctx context.Context, conn *pgx.Conn) {
	defer close(l.done)
	for {
		// Nothing is ever notified on this session: this returns when ctx
		// ends or the connection breaks, the first at once and the second
		// as soon as the socket says so.
		err := conn.PgConn().WaitForNotification(ctx)
		if ctx.Err() != nil {
			relCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			for _, lock := range l.locks {
				if err := lock.release(relCtx, conn); err != nil {
					l.logger.Warn("could not release "+lock.name+"; Postgres releases it when the session ends", "error", err)
				}
			}
			cancel()
			closeConn(conn)
			return
		}
		closeConn(conn)
		for _, lock := range l.locks {
			l.logger.Warn("lost the database session holding "+lock.name+"; until it is taken again, "+lock.lost, "error", err)
		}
		if conn = l.reconnect(ctx); conn == nil {
			return
		}
		for _, lock := range l.locks {
			l.logger.Info("took " + lock.name + " again")
		}
	}
}

// reconnect takes the locks on a new session, trying until ctx ends, when
// it returns nil.
func (l *sessionLease) reconnect(ctx context.Context) *pgx.Conn {
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
		l.logger.Debug("taking easel serve's advisory locks again", "error", err)
		delay = min(2*delay, 5*time.Second)
	}
}
