package jobs

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// River wakes a queue's workers with a notification on this topic, sent by
// the inserting transaction. Its payload names the queue. Both are River's
// (v0.51) protocol between its inserting and its working clients;
// TestEnqueuePoolWakesWorkersAfterCommit fails if a River upgrade changes
// them.
const (
	riverInsertTopic  = "river_insert"
	submitWakePayload = `{"queue": "` + river.QueueDefault + `"}`
)

// wakeupSendTimeout bounds one notification: one not sent in time costs the
// jobs it announces a wait for River's poll, not an enqueue its connection.
const wakeupSendTimeout = time.Second

// fetchWakeup sends River's insert notification for the submit queue after
// enqueues have committed, at most once per fetchCooldown: the first of a
// burst at once, the rest of the burst together once the cooldown is over.
//
// River's own notification travels inside the inserting transaction, and a
// process sends at most one per FetchCooldown. Of a burst of enqueues, the
// first notifies and the workers fetch; one that commits just after that
// fetch sent no notification of its own and waited for the next poll, up to
// a second. Sent after the commit, a notification cannot come too early,
// and a committing enqueue no longer holds Postgres's notification lock
// through its WAL flush.
//
// A fetchWakeup lives only while it has notifications to send: once idle,
// it leaves fetchWakeups, so that the pools of a process that opens many
// (tests) are not held forever, and the next enqueue makes a new one.
type fetchWakeup struct {
	pool   *pgxpool.Pool
	exec   riverdriver.Executor
	window time.Duration

	mu sync.Mutex
	// again records that enqueues committed while a notification was being
	// sent or its window ran; done that this fetchWakeup went idle and left
	// fetchWakeups.
	again, done bool
}

// fetchWakeups holds the busy fetchWakeup of each pool.
var fetchWakeups sync.Map // *pgxpool.Pool → *fetchWakeup

// wakeWorkers asks for a notification on pool's database; it never blocks.
func wakeWorkers(pool *pgxpool.Pool) {
	for {
		if v, ok := fetchWakeups.Load(pool); ok {
			w := v.(*fetchWakeup)
			w.mu.Lock()
			done := w.done
			w.again = true
			w.mu.Unlock()
			if !done {
				return
			}
			// It went idle between Load and Lock, and has left the map.
		}
		fresh := &fetchWakeup{pool: pool, exec: riverpgxv5.New(pool).GetExecutor(), window: fetchCooldown}
		if _, loaded := fetchWakeups.LoadOrStore(pool, fresh); !loaded {
			go fresh.run()
			return
		}
	}
}

func (w *fetchWakeup) run() {
	for {
		w.send()
		time.Sleep(w.window)
		w.mu.Lock()
		if !w.again {
			w.done = true
			fetchWakeups.CompareAndDelete(w.pool, w)
			w.mu.Unlock()
			return
		}
		w.again = false
		w.mu.Unlock()
	}
}

func (w *fetchWakeup) send() {
	ctx, cancel := context.WithTimeout(context.Background(), wakeupSendTimeout)
	defer cancel()
	err := w.exec.NotifyMany(ctx, &riverdriver.NotifyManyParams{Topic: riverInsertTopic, Payload: []string{submitWakePayload}})
	if err != nil {
		// EnqueuePool takes no logger, and a wake-up serves every enqueue
		// on the pool at once: it logs through the default, which easel's
		// main sets to the configured logger.
		slog.Default().WarnContext(ctx, "could not wake the workers after an enqueue; they will find its job when they poll River, within a second",
			"error", err)
	}
}

// quietInsertClient inserts EnqueuePool's jobs without River's notification
// in the transaction: fetchWakeup sends it after the commit. Its
// FetchCooldown, which spaces the notifications it sends, lets it send one
// in its life.
var quietInsertClient = sync.OnceValues(func() (*river.Client[pgx.Tx], error) {
	return newInsertClient(100*365*24*time.Hour, "")
})
