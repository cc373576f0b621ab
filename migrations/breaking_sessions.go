package migrations

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrRunningReplicas means Up refused to apply a migration that breaks
// older binaries while other Easel sessions were connected to the database.
var ErrRunningReplicas = errors.New("easel sessions are connected")

// UpOption changes what Up does.
type UpOption func(*upOptions)

type upOptions struct {
	allowRunningReplicas bool
}

// AllowRunningReplicas lets Up apply a migration that breaks older binaries
// while other Easel sessions are connected: the operator says they are new
// binaries already (easel migrate up --allow-running-replicas). easel serve
// never passes it.
func AllowRunningReplicas() UpOption {
	return func(o *upOptions) { o.allowRunningReplicas = true }
}

// maxListedSessions caps the sessions an ErrRunningReplicas error lists.
const maxListedSessions = 10

// sessionsGrace is how long a session found connected may take to go
// before Up refuses: a connection closed just before, such as easel serve's
// check that Postgres accepts connections, leaves a backend that takes a
// moment to exit.
const sessionsGrace = time.Second

// oldestCompatibleAssignment is a migration's write of
// easel_schema_compatibility's oldest_compatible_version (package doc).
var oldestCompatibleAssignment = regexp.MustCompile(`(?i)\boldest_compatible_version\s*=\s*(\d+)`)

// sqlComments are SQL comments, which may quote the rule's example.
var sqlComments = regexp.MustCompile(`(?s)/\*.*?\*/|--[^\n]*`)

// breaksOlderBinaries reports whether sql, the up migration of version,
// sets oldest_compatible_version to its own version, which is how a
// migration from 000024 on says that binaries before it cannot run on the
// schema after it (package doc).
func breaksOlderBinaries(sql string, version uint) bool {
	for _, m := range oldestCompatibleAssignment.FindAllStringSubmatch(sqlComments.ReplaceAllString(sql, ""), -1) {
		if n, err := strconv.ParseUint(m[1], 10, 64); err == nil && uint(n) == version {
			return true
		}
	}
	return false
}

// breakingMigrations names the up migrations of fsys after version, up to
// latest, that break older binaries, oldest first, with their versions.
func breakingMigrations(fsys fs.FS, version, latest uint) (names []string, versions []uint, err error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	for _, e := range entries {
		prefix, _, _ := strings.Cut(e.Name(), "_")
		v, perr := strconv.ParseUint(prefix, 10, 64)
		if perr != nil || uint(v) <= version || uint(v) > latest || !strings.HasSuffix(e.Name(), ".up.sql") {
			continue
		}
		body, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		if breaksOlderBinaries(string(body), uint(v)) {
			names, versions = append(names, e.Name()), append(versions, uint(v))
		}
	}
	return names, versions, nil // ReadDir sorts by name, so by version
}

// easelSession is a backend of another Easel process, as pg_stat_activity
// shows it.
type easelSession struct {
	Pid          int32
	App          string
	ClientAddr   string // empty for a Unix socket, or when not visible
	BackendStart *time.Time
}

func (s easelSession) String() string {
	addr := s.ClientAddr
	if addr == "" {
		addr = "local"
	}
	start := "unknown"
	if s.BackendStart != nil {
		start = s.BackendStart.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("pid %d, application_name %q, client_addr %s, backend_start %s", s.Pid, s.App, addr, start)
}

// otherEaselSessions lists the client backends of conn's database, other
// than conn's, whose application_name says Easel's (easel serve's pools are
// "easel api" and the like, their listeners "easel api notify <channel>";
// DATABASE_URL may name them "easel-api-1"), oldest first. Backends in
// their migrate phase, holding its lock (migrate_phase.go), and backends
// holding or waiting for golang-migrate's lock lockID are migrating, not
// serving, whatever their name; a name alone is never taken for that, as
// DATABASE_URL may give a serving replica's pool any name, "easel migrate"
// too.
func otherEaselSessions(ctx context.Context, conn *pgx.Conn, lockID int64) ([]easelSession, error) {
	rows, err := conn.Query(ctx, `SELECT a.pid, a.application_name, coalesce(host(a.client_addr), ''), a.backend_start
		FROM pg_stat_activity a
		WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
			AND a.backend_type = 'client backend'
			AND a.application_name LIKE 'easel%'
			AND NOT EXISTS (SELECT FROM pg_locks l
				WHERE l.pid = a.pid AND l.locktype = 'advisory'
					AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
					AND ((l.classid = 0 AND l.objid::bigint = $1 AND l.objsubid = 1)
						OR (l.granted AND l.classid = $2 AND l.objid = 0 AND l.objsubid = 2)))
		ORDER BY a.backend_start, a.pid`, lockID, uint32(migratePhaseLockClass))
	if err != nil {
		return nil, fmt.Errorf("list Easel sessions in pg_stat_activity: %w", err)
	}
	sessions, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (easelSession, error) {
		var s easelSession
		err := row.Scan(&s.Pid, &s.App, &s.ClientAddr, &s.BackendStart)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("list Easel sessions in pg_stat_activity: %w", err)
	}
	return sessions, nil
}

// checkBreaking is Up's guard of the package doc's rule that replicas older
// than a migration that breaks them are stopped before it runs: when such a
// migration is pending and another Easel session is connected to the
// database, it returns an error wrapping ErrRunningReplicas, before any
// migration runs. With AllowRunningReplicas it logs them instead.
//
// A dirty schema is left to golang-migrate, which refuses it. A concurrent
// Up of the same migrations, another replica starting, is told apart by
// the migrate phase's lock each of its connections holds, or its hold on
// golang-migrate's lock; one that has applied them by the time sessions
// are found leaves nothing pending, which is read again before refusing.
func (s migrator) checkBreaking(ctx context.Context, cfg *pgx.ConnConfig, latest uint, opts upOptions, logger *slog.Logger) error {
	conn, err := connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	pending := func() (names []string, versions []uint, err error) {
		version, dirty, err := readVersion(ctx, conn)
		if err != nil || dirty {
			return nil, nil, err
		}
		return breakingMigrations(s.files, version, latest)
	}
	names, versions, err := pending()
	if err != nil || len(names) == 0 {
		return err
	}
	var database, schema string
	if err := conn.QueryRow(ctx, `SELECT current_database(), coalesce(current_schema(), '')`).Scan(&database, &schema); err != nil {
		return fmt.Errorf("read current database of %q: %w", cfg.Database, err)
	}
	lockID := migrationLockID(database, schema)
	sessions, err := otherEaselSessions(ctx, conn, lockID)
	if err != nil {
		return err
	}
	if len(sessions) > 0 && opts.allowRunningReplicas {
		if logger != nil {
			logger.Warn("applying migrations that break older binaries while other Easel sessions are connected, as --allow-running-replicas asks: they must be binaries at this version or later",
				"database", database, "breaking_migrations", strings.Join(names, ", "), "sessions", len(sessions), "first_session", sessions[0].String())
		}
		return nil
	}
	// Give just-closed connections time to go: refused, an easel serve
	// would exit, and a deploy retry it.
	deadline := time.Now().Add(sessionsGrace)
	for len(sessions) > 0 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("list Easel sessions in pg_stat_activity: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		if sessions, err = otherEaselSessions(ctx, conn, lockID); err != nil {
			return err
		}
	}
	if len(sessions) == 0 {
		return nil
	}
	// Another Up may have applied them meanwhile.
	if names, versions, err = pending(); err != nil || len(names) == 0 {
		return err
	}
	newest := slices.Max(versions)
	listed := make([]string, 0, maxListedSessions+1)
	for _, sess := range sessions[:min(len(sessions), maxListedSessions)] {
		listed = append(listed, sess.String())
	}
	if len(sessions) > maxListedSessions {
		listed = append(listed, fmt.Sprintf("and %d more", len(sessions)-maxListedSessions))
	}
	// One line, as easel serve's JSON log and a person's terminal both
	// keep it.
	var b strings.Builder
	fmt.Fprintf(&b, "migration %s breaks older binaries: an easel whose newest migration is older than %d cannot read the schema after it, ",
		strings.Join(names, " and "), newest)
	fmt.Fprintf(&b, "and %d other Easel session(s) are connected to database %q (%s), so no migration was applied and the schema is unchanged: ",
		len(sessions), database, strings.Join(listed, "; "))
	b.WriteString("stop them first (deploy with Recreate rather than a rolling update), " +
		"or, if they are already binaries at this version or later, run `easel migrate up --allow-running-replicas`")
	return &runningReplicasError{msg: b.String()}
}

// runningReplicasError is checkBreaking's refusal.
type runningReplicasError struct{ msg string }

func (e *runningReplicasError) Error() string { return e.msg }
func (e *runningReplicasError) Unwrap() error { return ErrRunningReplicas }
