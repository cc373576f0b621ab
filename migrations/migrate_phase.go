package migrations

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Replicas started together migrate at once, each before it serves, and
// checkBreaking must not take another's migrate phase for a running
// replica: it would refuse a breaking migration because of a process about
// to run it. So every connection this package opens carries a mark of the
// migrate phase, whatever DATABASE_URL says:
//
//   - a shared advisory lock of class migratePhaseLockClass, held as long as
//     the connection is open. checkBreaking trusts this mark alone: a
//     serving replica's pool never takes it, whatever it is named. A name
//     would not do, since the pool keeps DATABASE_URL's application_name,
//     and a DATABASE_URL naming it "easel migrate" (one shared with a
//     migration job's) would hide a serving replica.
//   - an application_name starting with "easel migrate", for whoever reads
//     pg_stat_activity: "easel migrate" itself, or, when DATABASE_URL (or
//     PGAPPNAME) names the process's connections, "easel migrate (<that
//     name>)", so that the migration is still recognised as that
//     replica's.

// applicationName is the migrate phase's application_name when
// DATABASE_URL names none, and the start of it otherwise.
const applicationName = "easel migrate"

// migratePhaseLockClass is the first key of the shared advisory lock a
// migrate-phase connection holds, the second being 0. Two-key advisory
// locks show in pg_locks with the first key as classid, the second as objid
// and objsubid 2, apart from golang-migrate's one-key lock.
const migratePhaseLockClass = 0x45534d47 // "ESMG"

// migratePhaseConfig is cfg, copied, with the migrate phase's
// application_name. A name that already starts with "easel migrate" is
// kept: a migration job's own DATABASE_URL may say it, and a configuration
// this made already is left as it is.
func migratePhaseConfig(cfg *pgx.ConnConfig) *pgx.ConnConfig {
	cfg = cfg.Copy()
	cfg.RuntimeParams["application_name"] = migratePhaseName(cfg.RuntimeParams["application_name"])
	return cfg
}

// migratePhaseName is the migrate phase's application_name for a process
// whose DATABASE_URL names its connections name ("" when it does not).
func migratePhaseName(name string) string {
	switch {
	case name == "":
		return applicationName
	case strings.HasPrefix(name, applicationName):
		return name
	default:
		// Postgres cuts a name at 63 bytes: a long one loses its end, the
		// mark being at the start.
		return applicationName + " (" + name + ")"
	}
}

// markMigratePhase takes the migrate phase's shared advisory lock for
// conn's session. A try, which never waits: nothing takes the lock
// exclusively, and a session left unmarked is only counted as a running
// replica, which makes checkBreaking refuse rather than proceed.
func markMigratePhase(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, `SELECT pg_try_advisory_lock_shared($1, 0)`, int32(migratePhaseLockClass)); err != nil {
		return err
	}
	return nil
}
