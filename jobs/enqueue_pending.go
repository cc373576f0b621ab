package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/easelhq/easel/store"
)

// ErrTooManyPending is returned by Enqueue when the client already has
// EnqueueOpts.MaxPending unfinished generations, so that a flood of
// enqueues can neither grow the database without bound nor bury other
// clients' work under a backlog.
//
// The cap is soft. Each Enqueue counts the rows committed before it (and
// its own transaction's), so n enqueues of one client whose transactions
// overlap can all see room for one more and leave the client at most n-1
// over the cap. Over HTTP, n is bounded by the connections of the Easel
// processes' pools. An exact cap would need a lock per client held until
// each enqueueing transaction commits, serialising a client's enqueues,
// which costs far more than a few rows over a cap of thousands.
var ErrTooManyPending = errors.New("client has too many unfinished generations")

// checkPending enforces opts.MaxPending before anything is inserted, and
// returns nil, nil when the client has room. At the cap, a retry of an
// enqueue that succeeded is still answered as a replay: the cap limits new
// work, not answers about work already accepted.
func checkPending(ctx context.Context, tx pgx.Tx, client string, requestHash []byte, opts *EnqueueOpts) (*Enqueued, error) {
	n, err := store.CountPending(ctx, tx, client, opts.MaxPending)
	if err != nil {
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	if n < opts.MaxPending {
		return nil, nil
	}
	if opts.IdempotencyKey != "" {
		enqueued, err := replay(ctx, tx, client, opts.IdempotencyKey, requestHash)
		if !errors.Is(err, store.ErrNotFound) {
			return enqueued, err
		}
	}
	return nil, fmt.Errorf("enqueue for client %s: %d unfinished generations: %w", client, n, ErrTooManyPending)
}
