package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnqueuePool is Enqueue in a transaction of its own on a connection of
// pool, committed before it returns, for a caller with nothing else to
// write (the HTTP API). The transaction's BEGIN travels with its first
// statement, so it costs a round trip less than beginning one and calling
// Enqueue in it: three for a new generation. After the commit it wakes the
// workers, at most once per 10 ms, so that every job of a burst is fetched
// at once, where River's notification from inside a transaction can leave
// some waiting for River's poll, up to a second.
//
// EnqueueOpts.Schema is honoured as Enqueue honours it, for a pool whose
// search_path does not lead to Easel's schema (an application's), at one
// round trip more; the search_path needs no putting back, the transaction
// being EnqueuePool's own. The workers are then woken by River's
// notification from inside the transaction, on the schema's channel, as
// Enqueue's are: the wake-up after the commit would go out on the channel
// of the pool's own schema, where Easel's workers do not listen.
func EnqueuePool(ctx context.Context, pool *pgxpool.Pool, client string, input any, opts *EnqueueOpts) (*Enqueued, error) {
	e, err := newEnqueue(client, input, opts)
	if err != nil {
		return nil, err
	}
	e.ownTx = true
	wake := e.opts.Schema == ""
	if wake {
		// The job is announced to the workers after the commit
		// (fetchWakeup), not from inside the transaction.
		e.inserter = quietInsertClient
	}
	// The connection is taken before MaxPending is checked, as pool.Begin
	// would take it: enqueues let through and not yet committed are then
	// at most the pool's connections, the overlap ErrTooManyPending bounds.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	tx := &pipelinedTx{conn: conn}
	defer tx.close(ctx)
	enqueued, err := e.write(ctx, tx, tx.begun)
	if err != nil {
		return nil, err
	}
	if err := tx.tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("enqueue: commit: %w", err)
	}
	if wake && !enqueued.Replayed && !e.opts.RunAt.After(time.Now()) {
		wakeWorkers(pool)
	}
	return enqueued, nil
}

// pipelinedTx is a transaction on conn that begins with its first
// statement: QueryRow sends BEGIN and the statement in one batch. Exec and
// Query, never an enqueue's first statement, begin first.
type pipelinedTx struct {
	conn *pgxpool.Conn
	tx   pgx.Tx // nil until the first statement
}

func (p *pipelinedTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if p.tx != nil {
		return p.tx.QueryRow(ctx, sql, args...)
	}
	var b pgx.Batch
	b.BeginTx(pgx.TxOptions{})
	b.Queue(sql, args...)
	br := p.conn.SendBatch(ctx, &b)
	p.tx = br.Tx()
	return batchRow{br}
}

func (p *pipelinedTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := p.begin(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return p.tx.Exec(ctx, sql, args...)
}

func (p *pipelinedTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := p.begin(ctx); err != nil {
		return nil, err
	}
	return p.tx.Query(ctx, sql, args...)
}

func (p *pipelinedTx) begin(ctx context.Context) error {
	if p.tx != nil {
		return nil
	}
	tx, err := p.conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	p.tx = tx
	return nil
}

// begun returns the transaction once a statement has begun it.
func (p *pipelinedTx) begun() pgx.Tx { return p.tx }

// close rolls back unless committed, and returns the connection to the
// pool, which closes it if the rollback failed.
func (p *pipelinedTx) close(ctx context.Context) {
	if p.tx != nil {
		_ = p.tx.Rollback(ctx) // ErrTxClosed once committed
	}
	p.conn.Release()
}

// batchRow is the row of the statement sent with a BEGIN.
type batchRow struct{ br pgx.BatchResults }

func (r batchRow) Scan(dest ...any) error {
	_, err := r.br.Exec() // BEGIN's result
	if err == nil {
		err = r.br.QueryRow().Scan(dest...)
	}
	if closeErr := r.br.Close(); err == nil {
		err = closeErr
	}
	return err
}
