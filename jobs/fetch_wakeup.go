package jobs

import (
	"context"
	"fmt"
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
type fetchWakeup struct {
	exec   riverdriver.Executor
	window time.Duration

	mu sync.Mutex
	// busy is true while a wake-up is being sent or its window runs; again
	// records that enqueues committed meanwhile and need one more.
	busy, again bool
}

// fetchWakeups holds one fetchWakeup per pool that EnqueuePool was given.
var fetchWakeups sync.Map // *pgxpool.Pool → *fetchWakeup

func fetchWakeupFor(pool *pgxpool.Pool) *fetchWakeup {
	if w, ok := fetchWakeups.Load(pool); ok {
		return w.(*fetchWakeup)
	}
	w, _ := fetchWakeups.LoadOrStore(pool, &fetchWakeup{
		exec:   riverpgxv5.New(pool).GetExecutor(),
		window: fetchCooldown,
	})
	return w.(*fetchWakeup)
}

// wake asks for a notification; it never blocks.
func (w *fetchWakeup) wake() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.busy {
		w.again = true
		return
	}
	w.busy = true
	go w.run()
}

func (w *fetchWakeup) run() {
	for {
		w.send()
		time.Sleep(w.window)
		w.mu.Lock()
		if !w.again {
			w.busy = false
			w.mu.Unlock()
			return
		}
		w.again = false
		w.mu.Unlock()
	}
}

func (w *fetchWakeup) send() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := w.exec.NotifyMany(ctx, &riverdriver.NotifyManyParams{Topic: riverInsertTopic, Payload: []string{submitWakePayload}})
	if err != nil {
		// The workers' poll finds the jobs anyway, within a second.
		slog.Default().DebugContext(ctx, "River insert notification not sent; workers will find the jobs when they poll", "error", err)
	}
}

// quietInsertClient inserts EnqueuePool's jobs without River's notification
// in the transaction: fetchWakeup sends it after the commit. Its
// FetchCooldown, which spaces the notifications it sends, lets it send one
// in its life.
var quietInsertClient = sync.OnceValues(func() (*river.Client[pgx.Tx], error) {
	const never = 100 * 365 * 24 * time.Hour
	c, err := river.NewClient(riverpgxv5.New(nil), &river.Config{FetchCooldown: never, FetchPollInterval: never})
	if err != nil {
		return nil, fmt.Errorf("create River insert client: %w", err)
	}
	return c, nil
})
