package api

import (
	"sync"
	"time"
)

// refusalLogEvery is how often at most a client's 429 too_many_pending
// refusals are logged: a flooding client is refused at its own request
// rate, and one line per refusal would bury everything else.
const refusalLogEvery = time.Minute

// refusalLogForget is how long after its latest line a client is
// forgotten, so that the state stays as small as the clients refused
// lately.
const refusalLogForget = 5 * time.Minute

// refusalLog throttles the WARN of a client's refused enqueues: the first
// refusal is logged at once, and those within refusalLogEvery of a line
// are counted and reported by the client's next line, at its first
// refusal a refusalLogEvery or more after. Refusals that no later one
// follows are only in easel_api_errors_total.
type refusalLog struct {
	now func() time.Time

	mu        sync.Mutex
	clients   map[string]*clientRefusals
	lastSweep time.Time
}

type clientRefusals struct {
	lastLine time.Time
	// unlogged counts the refusals since lastLine, and firstUnlogged is
	// the time of the earliest of them.
	unlogged      int
	firstUnlogged time.Time
}

func newRefusalLog() *refusalLog {
	return &refusalLog{now: time.Now, clients: map[string]*clientRefusals{}}
}

// refused records a refusal of client's enqueue and reports whether to log
// it now, with how many refusals the line reports (this one included) and
// since when.
func (l *refusalLog) refused(client string) (n int, since time.Time, log bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	defer l.sweep(now) // after client's own refusals are reported
	r := l.clients[client]
	if r == nil {
		r = &clientRefusals{}
		l.clients[client] = r
	}
	if r.unlogged == 0 {
		r.firstUnlogged = now
	}
	r.unlogged++
	if !r.lastLine.IsZero() && now.Sub(r.lastLine) < refusalLogEvery {
		return 0, time.Time{}, false
	}
	n, since = r.unlogged, r.firstUnlogged
	r.lastLine, r.unlogged = now, 0
	return n, since, true
}

// sweep forgets the clients whose latest line is refusalLogForget old, at
// most once a refusalLogEvery.
func (l *refusalLog) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < refusalLogEvery {
		return
	}
	l.lastSweep = now
	for client, r := range l.clients {
		if now.Sub(r.lastLine) >= refusalLogForget {
			delete(l.clients, client)
		}
	}
}
