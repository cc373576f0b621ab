// Package store is Easel's data access layer: every statement that reads or
// writes Easel's tables lives here, so the rules of a generation's lifecycle
// (a terminal state never changes; a webhook may beat the submit call) are
// enforced in one place.
//
// Functions take a DBTX so callers choose the transaction: a pool for a
// single statement, a pgx.Tx when several writes must commit together.
package store
