package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DBTX is satisfied by *pgxpool.Pool, *pgx.Conn and pgx.Tx.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Batcher sends a batch of statements in one round trip; *pgxpool.Pool,
// *pgx.Conn and pgx.Tx satisfy it. Functions that take one rather than a
// DBTX rely on the batch running in one implicit transaction when they
// are not given one, so that a lock they take is held until their insert
// commits.
type Batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// TxBeginner begins a transaction; *pgxpool.Pool, *pgx.Conn and pgx.Tx (a
// savepoint) satisfy it. Functions that take one rather than a DBTX commit
// a transaction of their own, so that a transaction-scoped lock they take
// is held for just their writes.
type TxBeginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")
