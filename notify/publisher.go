package notify

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	// coalesceWindow is how long a published key waits for others to share
	// its notification. Every NOTIFY briefly takes a database-wide lock and
	// wakes every listening backend of the database (River's included), so
	// a process sends at most one per window however much it finishes.
	coalesceWindow = 5 * time.Millisecond
	// maxPayload is the longest payload sent: Postgres refuses payloads of
	// 8000 bytes or more (in its default build).
	maxPayload = 7999
	// sendTimeout bounds one send, so that a database that does not answer
	// holds up nothing but the wake-ups it would have carried.
	sendTimeout = 5 * time.Second
)

// Publisher sends keys on one channel after the transactions they are about
// have committed, several to a notification: a payload is keys joined by
// commas, which Listener splits. Publish never blocks; the keys published
// within a few milliseconds go out together, from a transaction of their
// own that writes nothing, so it needs no WAL flush and no committing
// transaction ever waits on a notification.
//
// A notification is a wake-up, never a fact: a send that fails is logged
// and dropped, and a process that dies between a commit and its send never
// sends it. Waiters must look again now and then.
//
// It needs no goroutine of its own between batches and no stopping: the
// zero cost of one that is never used lets every component that finishes
// something default to one of its own.
type Publisher struct {
	pool    *pgxpool.Pool
	channel string
	logger  *slog.Logger
	window  time.Duration

	mu      sync.Mutex
	pending map[string]struct{}
	// idle is nil while no batch is scheduled or being sent, and otherwise
	// closed once the last one has been.
	idle chan struct{}
}

// NewPublisher returns a Publisher that sends on channel through pool. A
// nil logger means slog.Default().
func NewPublisher(pool *pgxpool.Pool, channel string, logger *slog.Logger) *Publisher {
	if logger == nil {
		logger = slog.Default()
	}
	return &Publisher{pool: pool, channel: channel, logger: logger, window: coalesceWindow, pending: make(map[string]struct{})}
}

// Publish sends key soon. Call it after the transaction that key announces
// has committed: a listener woken earlier would read the old state. key
// must be non-empty and contain no comma.
func (p *Publisher) Publish(key string) {
	if key == "" || strings.Contains(key, ",") || len(key) > maxPayload {
		p.logger.Error("notification key not published: empty, too long or containing a comma", "channel", p.channel, "key", key)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending[key] = struct{}{}
	if p.idle == nil {
		p.idle = make(chan struct{})
		time.AfterFunc(p.window, p.flush)
	}
}

// Flush waits until every key published so far has been sent or dropped,
// or ctx ends. Call it before closing the pool.
func (p *Publisher) Flush(ctx context.Context) error {
	p.mu.Lock()
	idle := p.idle
	p.mu.Unlock()
	if idle == nil {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flush sends the pending keys. Only one flush runs at a time: keys
// published during a send wait a window of their own, so that a slow
// database makes batches larger rather than notifications more frequent.
func (p *Publisher) flush() {
	p.mu.Lock()
	keys := make([]string, 0, len(p.pending))
	for k := range p.pending {
		keys = append(keys, k)
	}
	clear(p.pending)
	p.mu.Unlock()

	p.send(keys)

	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pending) > 0 {
		time.AfterFunc(p.window, p.flush)
		return
	}
	close(p.idle)
	p.idle = nil
}

// send notifies keys in as few payloads as fit, in one statement.
func (p *Publisher) send(keys []string) {
	payloads := joinPayloads(keys)
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	_, err := p.pool.Exec(ctx, `SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload`, p.channel, payloads)
	if err != nil {
		p.logger.Warn("notifications not sent; waiters will find out when they look again",
			"channel", p.channel, "keys", len(keys), "error", err)
	}
}

// joinPayloads joins keys with commas into payloads of at most maxPayload
// bytes.
func joinPayloads(keys []string) []string {
	var payloads []string
	var b strings.Builder
	for _, k := range keys {
		if b.Len() > 0 && b.Len()+1+len(k) > maxPayload {
			payloads = append(payloads, b.String())
			b.Reset()
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
	}
	if b.Len() > 0 {
		payloads = append(payloads, b.String())
	}
	return payloads
}
