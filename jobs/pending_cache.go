package jobs

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/easelhq/easel/store"
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
// enqueues it let through since, less those that then inserted nothing
// (refused by the database, replayed, failed). While their sum is under the
// cap and the count is younger than PendingCacheTTL, an enqueue goes ahead
// without counting; otherwise Enqueue counts, and the cache starts again
// from that count. The enqueue that counted goes ahead when its count plus
// what the process let through while it ran is under the cap, as any other
// would. A refusal always rests on an exact count: a fresh one that found
// the client at its cap refuses again without counting, so a client
// flooding at its cap costs one count per TTL rather than one per request.
// (In the one exception, three counts in a row each found room that the
// process's own enqueues filled while it ran.)
//
// A cache belongs to one process and one cap (the HTTP API makes one per
// handler): it knows what its process enqueued, not what others did; see
// ErrTooManyPending for what that adds to the overshoot. The zero value is
// ready to use; it is safe for concurrent use. It holds an entry for each
// client counted within about a TTL, so its memory follows the clients
// enqueueing, not every client ever seen.
type PendingCache struct {
	// now, when set, replaces time.Now (see NewPendingCache).
	now func() time.Time

	mu      sync.Mutex
	clients map[string]*pendingEntry
	// sweepAt is the size at which the next new client first evicts stale
	// entries: doubling it keeps eviction O(1) amortised per new client.
	sweepAt int
}

// NewPendingCache returns an empty PendingCache that reads the time from
// now rather than time.Now, as the zero PendingCache does: the tests of the
// packages holding one (api's handler) move it by hand. The clock is set
// at construction only, since the cache compares the times it read before
// with those it reads after.
func NewPendingCache(now func() time.Time) *PendingCache {
	return &PendingCache{now: now}
}

// pendingCacheMinSweep is the fewest entries worth sweeping for.
const pendingCacheMinSweep = 64

// pendingMaxCounts bounds the counts one enqueue takes when each is
// inconclusive (see counted).
const pendingMaxCounts = 3

type pendingEntry struct {
	// count is the last exact count, taken (started) at countedAt with
	// limit as the cap; valid is false until there is one.
	count     int
	limit     int
	countedAt time.Time
	valid     bool
	// accepted numbers the enqueues let through, and base is what it was
	// when the count started; released is how many of those let through
	// since then inserted nothing after all (see release). The estimate is
	// count + accepted - base - released. Enqueues let through before the
	// count started are in it once they have committed; those still in
	// flight then are the overlap that ErrTooManyPending describes.
	accepted, base uint64
	released       int
	// started numbers the counts; recorded is the number of the count in
	// count, so that a slow count never replaces a later one.
	started, recorded uint64
	// counts are the counts in progress: the entry is not evicted
	// meanwhile, so that their results land in it, and each learns of the
	// releases of the enqueues let through after it started.
	counts []*pendingTicket
}

// since counts the enqueues let through after a count that started at
// base, less the released ones among them.
func (e *pendingEntry) since(base uint64, released int) int {
	// Unsigned subtraction: accepted only grows, and base is a past value
	// of it.
	return int(e.accepted-base) - released
}

// let lets an enqueue through.
func (e *pendingEntry) let() pendingAdmission {
	e.accepted++
	return pendingAdmission{entry: e, number: e.accepted}
}

// pendingTicket is a count in progress.
type pendingTicket struct {
	entry  *pendingEntry
	number uint64
	at     time.Time
	// accepted is entry.accepted when the count started: its base.
	accepted uint64
	// released counts the releases, since the count started, of enqueues
	// let through after it started.
	released int
}

// pendingAdmission is an enqueue that a PendingCache let through, numbered
// as entry.accepted was then; the zero value is none.
type pendingAdmission struct {
	entry  *pendingEntry
	number uint64
}

func (c *PendingCache) readClock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// check decides whether client has room under limit: room reports it, and
// n is the estimate or count it rests on. It counts with db when the cache
// cannot tell without. An enqueue it lets through that then inserts
// nothing must be released.
func (c *PendingCache) check(ctx context.Context, db store.DBTX, client string, limit int) (n int, room bool, admitted pendingAdmission, err error) {
	for counts := 1; ; counts++ {
		var ticket *pendingTicket
		if n, room, admitted, ticket = c.admit(client, limit); ticket == nil {
			return n, room, admitted, nil
		}
		var again bool
		n, err = store.CountPending(ctx, db, client, limit)
		n, room, again, admitted = c.counted(ticket, limit, n, err == nil)
		if err != nil {
			return 0, false, pendingAdmission{}, fmt.Errorf("enqueue: %w", err)
		}
		if !again || counts == pendingMaxCounts {
			// After pendingMaxCounts inconclusive counts, each of which
			// this process's own enqueues filled to the cap while it
			// ran, the client is at its cap in all likelihood: refusing
			// keeps the overshoot within its bound.
			return n, room, admitted, nil
		}
	}
}

// admit decides, when it can without counting, whether client has room
// under limit: room reports it, and n is the estimate (or the count that
// refuses). Otherwise it returns a ticket: the caller counts and passes the
// result to counted.
func (c *PendingCache) admit(client string, limit int) (n int, room bool, admitted pendingAdmission, ticket *pendingTicket) {
	now := c.readClock()
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
			return e.count, false, pendingAdmission{}, nil
		}
		if n := e.count + e.since(e.base, e.released); n < limit {
			return n, true, e.let(), nil
		}
		// The cap was reached by this process's own enqueues, some of
		// which may have finished since: only a count can refuse.
	}
	e.started++
	ticket = &pendingTicket{entry: e, number: e.started, at: now, accepted: e.accepted}
	e.counts = append(e.counts, ticket)
	return 0, false, pendingAdmission{}, ticket
}

// counted records n, the exact count that ticket stands for, or ok=false
// when counting failed, and decides the enqueue that counted.
//
// The enqueue has room when n plus the enqueues this process let through
// since the count started is under limit: those still in flight when the
// count read are not in n, and letting it through on n alone could add to
// the overshoot of every other count in flight. It has none when n is at
// limit. Otherwise the count cannot tell, as those let through that
// committed before it read are in n as well: again asks for another count,
// which starts after them. n is then the sum.
func (c *PendingCache) counted(ticket *pendingTicket, limit, n int, ok bool) (estimate int, room, again bool, admitted pendingAdmission) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := ticket.entry
	e.counts = slices.DeleteFunc(e.counts, func(t *pendingTicket) bool { return t == ticket })
	if !ok {
		return 0, false, false, pendingAdmission{}
	}
	if ticket.number > e.recorded {
		e.recorded = ticket.number
		e.count, e.limit, e.countedAt, e.valid = n, limit, ticket.at, true
		e.base, e.released = ticket.accepted, ticket.released
	}
	if n >= limit {
		return n, false, false, pendingAdmission{}
	}
	estimate = n + e.since(ticket.accepted, ticket.released)
	if estimate < limit {
		return estimate, true, false, e.let()
	}
	return estimate, false, true, pendingAdmission{}
}

// release takes back an enqueue that check let through and that inserted
// nothing (refused, replayed, or failed), so that it does not count against
// the client's room until the next count. An enqueue whose outcome is
// unknown, such as a failed commit, is not released: counting it costs at
// most an early count, never a refusal.
func (c *PendingCache) release(a pendingAdmission) {
	if a.entry == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := a.entry
	// Only an enqueue let through after a count started is in the
	// estimate that count gives: an earlier one, still in flight when it
	// read, was never in it.
	if a.number > e.base {
		e.released++
	}
	for _, t := range e.counts {
		if a.number > t.accepted {
			t.released++
		}
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
		if len(e.counts) == 0 && !now.Before(e.countedAt.Add(PendingCacheTTL)) {
			delete(c.clients, client)
		}
	}
	c.sweepAt = max(2*len(c.clients), pendingCacheMinSweep)
}
