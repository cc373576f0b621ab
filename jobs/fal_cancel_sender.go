package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/easelhq/easel/notify"
	"github.com/easelhq/easel/store"
)

// FalCancelSender sends the cancel of a fal request that another
// submission's result superseded as soon as it is queued, rather than at
// the reconciler's next run, by which time fal has usually run, and billed,
// the request nobody needs.
//
// The webhook receiver queues that cancel (store.FalCancelSuperseded) but
// holds no fal client: the transaction that queues it notifies
// store.FalCancelQueuedChannel, and a FalCancelSender, in a process that
// holds one, runs the reconciler's cancel step on each notification. The
// step claims what it sends (store.ClaimFalCancels), so any number of
// processes may run a sender beside the reconciler and none sends a cancel
// twice. A notification is a wake-up and may be lost (no sender running,
// its connection down): the reconciler still sends whatever is left.
//
// A process that starts a River client from NewRiverClient should run one
// beside it, as easel serve does for the roles that run workers. It holds a
// listening connection of its own, outside pool.
type FalCancelSender struct {
	pool       *pgxpool.Pool
	reconciler *ReconcileWorker
	logger     *slog.Logger
	// afterRun, if set, is told how many cancels each run claimed: tests
	// wait on it.
	afterRun func(claimed int)
}

// NewFalCancelSender returns a sender that cancels through cfg.Fal, with
// the reconciler's timeouts and retries (cfg.PollAfter, cfg.Timeout,
// cfg.RescueAfter); the other fields are unused.
func NewFalCancelSender(pool *pgxpool.Pool, cfg Config) (*FalCancelSender, error) {
	var errs []error
	if pool == nil {
		errs = append(errs, errors.New("pool is nil"))
	}
	if isNil(cfg.Fal) {
		errs = append(errs, errors.New("Config.Fal is nil: the sender cancels through it (a *fal.Client)"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("fal cancel sender: %w", err)
	}
	reconciler := NewReconcileWorker(pool, cfg)
	return &FalCancelSender{pool: pool, reconciler: reconciler, logger: reconciler.logger}, nil
}

// Run sends queued cancels whenever a notification says one was queued,
// and once its connection listens (again), until ctx is done. One run goes
// at a time; notifications that arrive during a run make one more run after
// it, however many they are.
func (s *FalCancelSender) Run(ctx context.Context) {
	listener := notify.NewListener(s.pool, store.FalCancelQueuedChannel, s.logger)
	// Before the listener runs: its first connection wakes it, sending what
	// was queued while no sender listened.
	queued := listener.Subscribe(string(store.FalCancelSuperseded))
	defer queued.Close()
	listenCtx, stopListening := context.WithCancel(ctx)
	go listener.Run(listenCtx)
	defer func() {
		stopListening()
		<-listener.Done()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-queued.C:
		}
		if ctx.Err() != nil {
			return // the listener's stopping woke it
		}
		s.send(ctx)
	}
}

// send claims and sends the cancels due, batch after batch while batches
// come back full, each run bounded as a reconciler's run is.
func (s *FalCancelSender) send(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.reconciler.jobTimeout)
	defer cancel()
	for {
		claimed, err := s.reconciler.cancelUnneededRequests(ctx)
		if s.afterRun != nil {
			s.afterRun(claimed)
		}
		if err != nil {
			if ctx.Err() == nil {
				s.logger.Warn("could not send queued fal cancels; the reconciler sends them", "error", err)
			}
			return
		}
		if claimed < reconcileBatch {
			return
		}
	}
}
