package jobs

import (
	"context"
	"errors"
	"fmt"

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
//
// With EnqueueOpts.PendingCache (the HTTP API's), a process reuses its last
// exact count of a client for up to PendingCacheTTL (a second), adding the
// enqueues it let through since. That count does not see what other
// processes enqueue after it, so on top of the n-1 above the client can end
// up over the cap by as many enqueues as other processes accepted for it in
// the TTL before its latest one: at most their enqueue rate for one second.
// With a single process that adds nothing. A refusal rests on an exact
// count (see PendingCache for the one exception), but one up to a TTL old:
// a client whose generations finish can be refused for up to a TTL longer
// than without a cache. An enqueue that inserts nothing (a replay, an
// idempotency conflict, a failed insert) does not count against the
// client's room.
var ErrTooManyPending = errors.New("client has too many unfinished generations")

// checkPending enforces opts.MaxPending before anything is inserted, and
// returns nil, nil when the client has room, with the admission to release
// (see PendingCache.release) if the enqueue then inserts nothing. At the
// cap, a retry of an enqueue that succeeded is still answered as a replay:
// the cap limits new work, not answers about work already accepted.
func checkPending(ctx context.Context, db store.DBTX, client string, requestHash []byte, opts *EnqueueOpts) (*Enqueued, pendingAdmission, error) {
	n, room, admitted, err := hasRoom(ctx, db, client, opts)
	if err != nil {
		return nil, pendingAdmission{}, err
	}
	if room {
		return nil, admitted, nil
	}
	if opts.IdempotencyKey != "" {
		enqueued, err := replay(ctx, db, client, opts.IdempotencyKey, requestHash)
		if !errors.Is(err, store.ErrNotFound) {
			return enqueued, pendingAdmission{}, err
		}
	}
	return nil, pendingAdmission{}, fmt.Errorf("enqueue for client %s: %d unfinished generations: %w", client, n, ErrTooManyPending)
}

// hasRoom says whether client is under opts.MaxPending, with n its count of
// unfinished generations (or opts.PendingCache's estimate of it).
func hasRoom(ctx context.Context, db store.DBTX, client string, opts *EnqueueOpts) (n int, room bool, admitted pendingAdmission, err error) {
	if cache := opts.PendingCache; cache != nil {
		return cache.check(ctx, db, client, opts.MaxPending)
	}
	n, err = store.CountPending(ctx, db, client, opts.MaxPending)
	if err != nil {
		return 0, false, pendingAdmission{}, fmt.Errorf("enqueue: %w", err)
	}
	return n, n < opts.MaxPending, pendingAdmission{}, nil
}
