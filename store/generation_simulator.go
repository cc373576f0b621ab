package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// A fal simulator keeps its requests in memory, so a generation submitted to
// one that has stopped can never finish. Easel's in-process simulator listens
// on a new loopback port at every start, and the only trace of which one a
// generation was submitted to is the queue host (host:port) of its
// fal_status_url. A process running a simulator holds a shared advisory lock
// named by that queue host for as long as the simulator runs (HoldSimulator),
// so that any process can tell, in Postgres, which simulators sharing the
// database are alive, whatever network namespace each runs in.

// simulatorLockClass is the first key of the advisory locks naming
// simulators, the second being hashtext(queue host). Two-key advisory locks
// never conflict with the one-key locks River and golang-migrate take.
const simulatorLockClass = 0x45534c53 // "ESLS"

// queueHostOf is the SQL of the queue host (host:port) of fal_status_url, as
// net/url's Host parses it from the URLs fal and the simulator return.
const queueHostOf = `substring(fal_status_url from '^[A-Za-z][A-Za-z0-9+.-]*://([^/?#]+)')`

// HoldSimulator takes, for db's session, a shared advisory lock naming the
// simulator at queueHost: it says the simulator is alive until the session
// ends. db must be a connection of its own, kept open while the simulator
// runs; shared, the lock waits only for a FailStoppedSimulator sweeping the
// same queue host to commit.
func HoldSimulator(ctx context.Context, db DBTX, queueHost string) error {
	if _, err := db.Exec(ctx, `SELECT pg_advisory_lock_shared($1, hashtext($2))`, simulatorLockClass, queueHost); err != nil {
		return fmt.Errorf("take the advisory lock of the fal simulator at %s: %w", queueHost, err)
	}
	return nil
}

// SubmittedQueueHosts returns the queue hosts of the fal_status_url of the
// submitted generations, each once, sorted.
func SubmittedQueueHosts(ctx context.Context, db DBTX) ([]string, error) {
	rows, err := db.Query(ctx, `
		SELECT DISTINCT `+queueHostOf+` AS host FROM generations
		WHERE status = 'submitted' AND fal_status_url IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("list the fal queue hosts of submitted generations: %w", err)
	}
	hosts, err := pgx.CollectRows(rows, pgx.RowTo[*string])
	if err != nil {
		return nil, fmt.Errorf("list the fal queue hosts of submitted generations: %w", err)
	}
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		if h != nil { // a fal_status_url that is not a URL
			out = append(out, *h)
		}
	}
	slices.Sort(out)
	return out, nil
}

// FailStoppedSimulator fails, with code and message, the submitted
// generations whose fal_status_url is on queueHost, unless a session holds
// the lock HoldSimulator takes for it: the simulator there is alive. It
// takes that lock exclusively for its transaction, so no simulator can
// start holding it meanwhile. It returns the generations it failed, and
// alive true, changing nothing, when the simulator is alive. The caller
// must know that queueHost is a simulator's: a lock nobody holds says
// nothing about fal.
func FailStoppedSimulator(ctx context.Context, db TxBeginner, queueHost, code, message string) (failed []uuid.UUID, alive bool, err error) {
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var locked bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1, hashtext($2))`, simulatorLockClass, queueHost).Scan(&locked); err != nil {
			return err
		}
		if !locked {
			alive = true
			return nil
		}
		rows, err := tx.Query(ctx, `
			UPDATE generations SET `+finishedSet+`
			WHERE status = 'submitted' AND finished_at IS NULL AND `+queueHostOf+` = $1
			RETURNING id`, queueHost, StatusFailed, code, message)
		if err != nil {
			return err
		}
		failed, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("fail the generations of the stopped fal simulator at %s: %w", queueHost, err)
	}
	return failed, alive, nil
}

// ReleaseSimulator releases the lock HoldSimulator took for db's session,
// so that the simulator's generations can be failed at once, rather than
// once Postgres notices the session has ended.
func ReleaseSimulator(ctx context.Context, db DBTX, queueHost string) error {
	if _, err := db.Exec(ctx, `SELECT pg_advisory_unlock_shared($1, hashtext($2))`, simulatorLockClass, queueHost); err != nil {
		return fmt.Errorf("release the advisory lock of the fal simulator at %s: %w", queueHost, err)
	}
	return nil
}
