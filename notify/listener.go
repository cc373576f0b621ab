package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/easelhq/easel/internal/logthrottle"
)

const (
	// pingInterval is how long the connection may sit without a notification
	// before it is pinged: a connection silently cut (a dropped network
	// path) would otherwise never report an error.
	pingInterval = 30 * time.Second
	pingTimeout  = 5 * time.Second
	// Reconnection backs off from minBackoff, doubling up to maxBackoff.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	// failureLogEvery is how often at most a Listener warns that its
	// connection failed: while the database is down it tries every
	// maxBackoff, each try failing alike.
	failureLogEvery = time.Minute
)

// Listener listens on one channel with a connection of its own and wakes
// the subscribers of each notification's payload.
//
// Notifications sent while the connection is down are lost, so after every
// (re)connection the Listener wakes all subscribers: a wake-up means "look
// again", never "it happened".
type Listener struct {
	connConfig *pgx.ConnConfig
	channel    string
	logger     *slog.Logger
	log        *connectionLog // Run's

	mu   sync.Mutex
	subs map[string]map[*Subscription]struct{}
	done chan struct{} // closed when Run returns
}

// NewListener returns a Listener on channel that connects with pool's
// configuration but outside the pool, so it never takes a pool slot. A nil
// logger means slog.Default().
func NewListener(pool *pgxpool.Pool, channel string, logger *slog.Logger) *Listener {
	if logger == nil {
		logger = slog.Default()
	}
	cfg := pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = listenerApplicationName(cfg.RuntimeParams["application_name"], channel)
	return &Listener{
		connConfig: cfg,
		channel:    channel,
		logger:     logger,
		log:        newConnectionLog(logger, channel, time.Now),
		subs:       make(map[string]map[*Subscription]struct{}),
		done:       make(chan struct{}),
	}
}

// connectionLog logs a Listener's connection failing and coming back.
//
// A failure is a WARN "notification listener failed; reconnecting", with
// failures, the failures in a row so far, and the backoff: at the first
// failure, then at most once a failureLogEvery, with repeated, the
// failures the line stands for (itself included), and since, when the
// first of them came, once it stands for more than itself; the others are
// DEBUG. Once the Listener listens again, an Info "notification listener
// reconnected" says how long it was down and after how many attempts, so
// that the last line about it says whether it is up; it is DEBUG when no
// WARN of that outage was logged (one within a minute of the last WARN),
// so that a connection that keeps breaking does not log a pair of lines
// each time. Only Run's goroutine uses it.
type connectionLog struct {
	logger  *slog.Logger
	channel string
	// outage counts the failures since the last connection, and throttles
	// their WARN lines.
	outage *logthrottle.Outage
}

// newConnectionLog returns a connectionLog; opts are for tests' clocks of
// its throttle, now its clock of the time down.
func newConnectionLog(logger *slog.Logger, channel string, now func() time.Time, opts ...logthrottle.Option) *connectionLog {
	// One key, for the Listener's one connection.
	return &connectionLog{logger: logger, channel: channel, outage: logthrottle.NewOutage(failureLogEvery, now, opts...)}
}

// failed logs a failure of the connection, retried in retryIn.
func (c *connectionLog) failed(err error, retryIn time.Duration) {
	const msg = "notification listener failed; reconnecting"
	n, since, ok := c.outage.Failed("")
	// Durations are logged as text ("1.5s"), where a JSON handler would
	// write integer nanoseconds.
	args := []any{"channel", c.channel, "error", err, "retry_in", retryIn.String(), "failures", c.outage.Failures()}
	if !ok {
		c.logger.Debug(msg, args...)
		return
	}
	if n > 1 {
		args = append(args, "repeated", n, "since", since)
	}
	c.logger.Warn(msg, args...)
}

// connected notes that the Listener listens (again).
func (c *connectionLog) connected() {
	failures, downFor, logged := c.outage.Recovered()
	if failures == 0 {
		return // the first connection, or no failure since the last
	}
	const msg = "notification listener reconnected"
	args := []any{"channel", c.channel, "down_for", downFor.String(), "attempts", failures}
	if logged {
		c.logger.Info(msg, args...)
	} else {
		c.logger.Debug(msg, args...)
	}
}

// Subscription receives a value on C when a notification with its key
// arrives, when the Listener (re)connects, or when it stops. C holds at most
// one pending wake-up.
type Subscription struct {
	C <-chan struct{}

	c        chan struct{}
	key      string
	listener *Listener
}

// Subscribe starts waking the returned subscription for notifications whose
// payload is key, or names it among others, comma-separated. Subscribe
// before reading the state the notification is about, so that a change
// between the read and the wait is not missed.
func (l *Listener) Subscribe(key string) *Subscription {
	c := make(chan struct{}, 1)
	s := &Subscription{C: c, c: c, key: key, listener: l}
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.done:
		s.wake() // nothing will ever wake it again
		return s
	default:
	}
	if l.subs[key] == nil {
		l.subs[key] = make(map[*Subscription]struct{})
	}
	l.subs[key][s] = struct{}{}
	return s
}

// Close stops s's wake-ups. It is safe to call more than once.
func (s *Subscription) Close() {
	l := s.listener
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.subs[s.key], s)
	if len(l.subs[s.key]) == 0 {
		delete(l.subs, s.key)
	}
}

func (s *Subscription) wake() {
	select {
	case s.c <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Done is closed once Run has returned: no notification will arrive any
// more, and waiters should answer with what they have.
func (l *Listener) Done() <-chan struct{} { return l.done }

// Run listens until ctx is cancelled, reconnecting with backoff whenever
// the connection fails. It may be called once.
func (l *Listener) Run(ctx context.Context) {
	defer func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		close(l.done)
		l.wakeAllLocked()
	}()
	backoff := minBackoff
	for ctx.Err() == nil {
		err := l.listen(ctx, func() {
			l.log.connected()
			backoff = minBackoff
		})
		if ctx.Err() != nil {
			return
		}
		l.log.failed(err, backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// listen holds one connection until it fails or ctx is done, calling
// connected once it LISTENs.
func (l *Listener) listen(ctx context.Context, connected func()) error {
	conn, err := pgx.ConnectConfig(ctx, l.connConfig)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), pingTimeout)
		defer cancel()
		conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.channel}.Sanitize()); err != nil {
		return fmt.Errorf("listen on %s: %w", l.channel, err)
	}
	connected()
	l.mu.Lock()
	l.wakeAllLocked()
	l.mu.Unlock()

	for {
		waitCtx, cancel := context.WithTimeout(ctx, pingInterval)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil:
			l.dispatch(n.Payload)
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			pingCtx, cancel := context.WithTimeout(ctx, pingTimeout)
			err := conn.Ping(pingCtx)
			cancel()
			if err != nil {
				return fmt.Errorf("ping: %w", err)
			}
		default:
			return fmt.Errorf("wait for notification: %w", err)
		}
	}
}

// dispatch wakes the subscribers of each key of payload: Publisher joins
// the keys of a batch with commas.
func (l *Listener) dispatch(payload string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for key := range strings.SplitSeq(payload, ",") {
		for s := range l.subs[key] {
			s.wake()
		}
	}
}

func (l *Listener) wakeAllLocked() {
	for _, subs := range l.subs {
		for s := range subs {
			s.wake()
		}
	}
}

// listenerApplicationName names the listening connection in
// pg_stat_activity after the pool's own name, which DATABASE_URL may set to
// tell processes apart ("easel-api-1"), and the channel, so that a DBA
// finds it beside its pool's connections.
func listenerApplicationName(poolName, channel string) string {
	if poolName == "" {
		return "easel-notify-" + channel
	}
	return poolName + " notify " + channel
}
