package jobs

import (
	"sync"
	"time"
)

// PendingCacheTTL is how long a PendingCache relies on an exact count of a
// client's unfinished generations. It bounds how late a process learns of
// other processes' enqueues (see ErrTooManyPending) and of finished
// generations, and a busy client costs a process one count per TTL instead
// of one per enqueue.
const PendingCacheTTL = time.Second

// PendingCache spares Enqueue's EnqueueOpts.MaxPending check its count of
// the client's unfinished generations, which reads up to MaxPending index
// entries and rows: at a backlog of thousands, the costliest statement of
// an enqueue. For each client it remembers the last exact count and the
// enqueues it let through since. While their sum is under the cap and the
// count is younger than PendingCacheTTL, an enqueue goes ahead without
// counting; otherwise Enqueue counts, exactly as without a cache, and the
// cache starts again from that count. A refusal always rests on an exact
// count: a fresh one that found the client at its cap refuses again without
// counting, so a client flooding at its cap costs one count per TTL rather
// than one per request.
//
// A cache belongs to one process and one cap (the HTTP API makes one per
// handler): it knows what its process enqueued, not what others did; see
// ErrTooManyPending for what that adds to the overshoot. The zero value is
// ready to use; it is safe for concurrent use. It holds an entry for each
// client counted within about a TTL, so its memory follows the clients
// enqueueing, not every client ever seen.
type PendingCache struct {
	// Now, when set, replaces time.Now: tests move time by hand.
	Now func() time.Time

	mu      sync.Mutex
	clients map[string]*pendingEntry
	// sweepAt is the size at which the next new client first evicts stale
	// entries: doubling it keeps eviction O(1) amortised per new client.
	sweepAt int
}

// pendingCacheMinSweep is the fewest entries worth sweeping for.
const pendingCacheMinSweep = 64

type pendingEntry struct {
	// count is the last exact count, taken (started) at countedAt with
	// limit as the cap; valid is false until there is one.
	count     int
	limit     int
	countedAt time.Time
	valid     bool
	// accepted counts the enqueues let through, and base is what it was
	// when the count started: count + accepted - base is the estimate.
	// Enqueues let through before the count started are in it once they
	// have committed; those still in flight then are the overlap that
	// ErrTooManyPending describes.
	accepted, base uint64
	// started numbers the counts; recorded is the number of the count in
	// count, so that a slow count never replaces a later one.
	started, recorded uint64
	// counting is how many counts are in progress: the entry is not
	// evicted meanwhile, so their results land in it.
	counting int
}

// pendingTicket is a count in progress.
type pendingTicket struct {
	entry    *pendingEntry
	number   uint64
	at       time.Time
	accepted uint64
}

func (c *PendingCache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// admit decides, when it can without counting, whether client has room
// under limit: room reports it, and n is the estimate (or the count that
// refuses). Otherwise it returns a ticket: the caller counts and passes the
// result to counted.
func (c *PendingCache) admit(client string, limit int) (n int, room bool, ticket *pendingTicket) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.clients[client]
	if e == nil {
		c.evictStale(now)
		e = &pendingEntry{}
		c.clients[client] = e
	}
	if e.valid && e.limit == limit && now.Before(e.countedAt.Add(PendingCacheTTL)) {
		if e.count >= limit {
			return e.count, false, nil
		}
		// Unsigned subtraction: accepted only grows, and base is a past
		// value of it.
		if n := e.count + int(e.accepted-e.base); n < limit {
			e.accepted++
			return n, true, nil
		}
		// The cap was reached by this process's own enqueues, some of
		// which may have finished since: only a count can refuse.
	}
	e.started++
	e.counting++
	return 0, false, &pendingTicket{entry: e, number: e.started, at: now, accepted: e.accepted}
}

// counted records n, the exact count that ticket stands for, or ok=false
// when counting failed; an n under limit lets the enqueue through.
func (c *PendingCache) counted(ticket *pendingTicket, limit, n int, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := ticket.entry
	e.counting--
	if !ok {
		return
	}
	if ticket.number > e.recorded {
		e.recorded = ticket.number
		e.count, e.limit, e.countedAt, e.valid = n, limit, ticket.at, true
		e.base = ticket.accepted
	}
	if n < limit {
		e.accepted++
	}
}

// evictStale forgets the clients whose count has expired, once the map has
// doubled since the last sweep. Such an entry tells nothing the next count
// will not: the enqueues it let through have committed by then (and are
// counted) or overlap that count.
func (c *PendingCache) evictStale(now time.Time) {
	if c.clients == nil {
		c.clients = make(map[string]*pendingEntry)
	}
	if len(c.clients) < c.sweepAt {
		return
	}
	for client, e := range c.clients {
		if e.counting == 0 && !now.Before(e.countedAt.Add(PendingCacheTTL)) {
			delete(c.clients, client)
		}
	}
	c.sweepAt = max(2*len(c.clients), pendingCacheMinSweep)
}
