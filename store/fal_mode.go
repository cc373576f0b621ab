package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Processes sharing a database share its queue: any one's workers may submit
// any one's generations. A process submitting to fal and one submitting to
// its in-process simulator must therefore never share one, or fal's users
// get the simulator's images and the simulator's generations are billed.
// Each holds, for as long as it runs, a shared advisory lock saying which
// kind it is (HoldFalMode), and a process starting checks that nobody holds
// the other kind's (FalModeRunning).

// FalMode is which fal the workers of a process sharing a database submit
// to, as far as the others must know.
type FalMode int32

const (
	// FalModeFal is fal.ai: FAL_KEY set and FAL_QUEUE_URL https, off
	// loopback.
	FalModeFal FalMode = 1
	// FalModeSimulator is easel serve's in-process simulator.
	FalModeSimulator FalMode = 2
)

// falModeLockClass is the first key of the advisory locks naming a
// FalMode, the second being the mode. Two-key advisory locks never conflict
// with the one-key locks River and golang-migrate take, and this class is
// neither simulatorLockClass nor unknownWebhookLockClass.
const falModeLockClass = 0x45534d44 // "ESMD"

// HoldFalMode takes, for db's session, a shared advisory lock saying that a
// process of mode runs, until the session ends or ReleaseFalMode. db must
// be a connection of its own, kept open while the process runs. Shared,
// the lock waits only for a FalModeRunning asking about mode to return.
func HoldFalMode(ctx context.Context, db DBTX, mode FalMode) error {
	if _, err := db.Exec(ctx, `SELECT pg_advisory_lock_shared($1, $2)`, falModeLockClass, int32(mode)); err != nil {
		return fmt.Errorf("take the advisory lock of fal mode %d: %w", mode, err)
	}
	return nil
}

// ReleaseFalMode releases the lock HoldFalMode took for db's session.
func ReleaseFalMode(ctx context.Context, db DBTX, mode FalMode) error {
	if _, err := db.Exec(ctx, `SELECT pg_advisory_unlock_shared($1, $2)`, falModeLockClass, int32(mode)); err != nil {
		return fmt.Errorf("release the advisory lock of fal mode %d: %w", mode, err)
	}
	return nil
}

// FalModeRunning reports whether a session holds mode's lock: a process of
// that mode runs on the database. It tries the lock exclusively, for its
// statement's implicit transaction only, so it never waits. A process that
// takes its own mode's lock before asking about the other's is seen by any
// process of the other mode asking after it: when two start together, at
// worst both refuse.
//
// A simulator process of a release before these locks holds only its
// simulator's lock (HoldSimulator), which every simulator process holds:
// for FalModeSimulator, any session holding one counts too, so that a
// rolling upgrade's older simulator is seen.
func FalModeRunning(ctx context.Context, db DBTX, mode FalMode) (bool, error) {
	var running bool
	if err := db.QueryRow(ctx, `
		SELECT NOT pg_try_advisory_xact_lock($1, $2)
			OR ($2 = $3 AND EXISTS (
				SELECT 1 FROM pg_locks
				WHERE locktype = 'advisory' AND granted AND objsubid = 2
					AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
					AND classid = $4::bigint::oid))`,
		falModeLockClass, int32(mode), int32(FalModeSimulator), simulatorLockClass).Scan(&running); err != nil {
		return false, fmt.Errorf("try the advisory lock of fal mode %d: %w", mode, err)
	}
	return running, nil
}

// loopbackURLPattern matches, case-insensitively, a URL whose host is
// loopback as serve reads one: localhost, a name under .localhost,
// 127.0.0.0/8, ::1, or 127.0.0.0/8 mapped to IPv6 and written with dots.
const loopbackURLPattern = `^[a-z][a-z0-9+.-]*://([^/?#@]*@)?(localhost|[^/?#@:]*\.localhost|127(\.[0-9]+){3}|\[(0*:)+(0*1|ffff:127(\.[0-9]+){3})\])(:[0-9]*)?([/?#]|$)`

// mayBeFal is the SQL of whether the URL in column col may be fal.ai's:
// https, on a host other than loopback; $1 is loopbackURLPattern. fal
// serves only https, and a simulator is reached over http: the in-process
// one's URLs, always http://127.0.0.1:PORT/..., fill a database used only
// with it, and are told apart by the cheap ILIKE before any is matched
// against the pattern (a CASE, unlike AND, fixes that order). NULL is
// false.
func mayBeFal(col string) string {
	return `CASE WHEN ` + col + ` ILIKE 'https://%' THEN ` + col + ` !~* $1 ELSE false END`
}

// FirstFalSubmission returns a generation whose fal_status_url or
// fal_response_url is https on a host other than loopback, whatever its status,
// and that URL: the database has been used with fal.ai, or with a fal
// elsewhere that Easel cannot tell from it. found is false if there is
// none. It stops at the first such row; on a database without one it reads
// every row once.
func FirstFalSubmission(ctx context.Context, db DBTX) (id uuid.UUID, url string, found bool, err error) {
	err = db.QueryRow(ctx, `
		SELECT id, CASE WHEN `+mayBeFal("fal_status_url")+` THEN fal_status_url ELSE fal_response_url END
		FROM generations
		WHERE `+mayBeFal("fal_status_url")+` OR `+mayBeFal("fal_response_url")+`
		LIMIT 1`, loopbackURLPattern).Scan(&id, &url)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return uuid.UUID{}, "", false, nil
	case err != nil:
		return uuid.UUID{}, "", false, fmt.Errorf("look for a generation submitted to fal: %w", err)
	}
	return id, url, true, nil
}
