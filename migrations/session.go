package migrations

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// migrator runs golang-migrate on a database in use. Its session gives up
// a lock wait after lockTimeout: a DDL statement queued for ACCESS
// EXCLUSIVE behind a long query holds up every query after it on that
// table for as long as it waits, so it waits briefly, and the migration,
// rolled back, is run again after a pause.
type migrator struct {
	files fs.FS
	// lockTimeout is the session's lock_timeout; 0 waits without limit.
	lockTimeout time.Duration
	// attempts is how many times a migration refused a lock (lock timeout,
	// deadlock) is run before it fails; backoff is the first pause
	// between two, doubling after each.
	attempts int
	backoff  time.Duration
	// clientCheckInterval is the session's client_connection_check_interval
	// (Postgres 14 and later): a backend whose client died (kill -9 of
	// easel migrate) aborts the migration instead of running it to a
	// commit nobody records. 0 leaves the server's setting.
	clientCheckInterval time.Duration
}

// embedded is the migrator of the migrations embedded in the binary.
var embedded = migrator{
	files:               files,
	lockTimeout:         5 * time.Second,
	attempts:            5,
	backoff:             time.Second,
	clientCheckInterval: 2 * time.Second,
}

// maxBackoff caps the pause between two attempts of a migration.
const maxBackoff = 30 * time.Second

// migrationsTable is golang-migrate's table, in the session's current schema.
const migrationsTable = "schema_migrations"

// open connects golang-migrate's driver on a session of its own, waiting,
// as long as ctx allows, while another migration holds golang-migrate's
// lock; Close on the result releases it.
func (s migrator) open(ctx context.Context, cfg *pgx.ConnConfig, logger *slog.Logger) (*migrate.Migrate, error) {
	src, err := iofs.New(s.files, ".")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	cfg = migratePhaseConfig(cfg)
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &driver{migrator: s, ctx: ctx, logger: logger, cfg: cfg}
	for {
		db := stdlib.OpenDB(*cfg, stdlib.OptionAfterConnect(func(ctx context.Context, conn *pgx.Conn) error {
			d.pid.Store(conn.PgConn().PID())
			if err := markMigratePhase(ctx, conn); err != nil {
				return fmt.Errorf("mark the migration session as migrating: %w", err)
			}
			return s.configure(ctx, conn)
		}))
		// golang-migrate runs everything on one connection of the pool,
		// and only it: one connection, so that its pid is the session's.
		db.SetMaxOpenConns(1)
		config := &migratepgx.Config{}
		// WithInstance takes golang-migrate's lock to create its table.
		inner, err := migratepgx.WithInstance(db, config)
		if config.DatabaseName != "" && config.SchemaName != "" {
			d.table = pgx.Identifier{config.SchemaName, migrationsTable}.Sanitize()
			d.lockID = migrationLockID(config.DatabaseName, config.SchemaName)
		}
		if err == nil {
			d.Driver = inner
			break
		}
		src.Close()
		db.Close()
		if !isLockTimeout(err) {
			d.closeWatcher()
			return nil, fmt.Errorf("connect for migrations: %w", err)
		}
		if err := d.awaitMigrationLock(); err != nil {
			d.closeWatcher()
			return nil, err
		}
		if src, err = iofs.New(s.files, "."); err != nil {
			d.closeWatcher()
			return nil, fmt.Errorf("read embedded migrations: %w", err)
		}
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", d)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("prepare migrations: %w", err)
	}
	// driver.Lock waits as long as ctx allows, saying for whom.
	m.LockTimeout = math.MaxInt64
	m.Log = migrateLogger{logger}
	return m, nil
}

// configure sets the migration session's lock_timeout and
// client_connection_check_interval; a server older than 14 does without
// the latter.
func (s migrator) configure(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, `SELECT set_config('lock_timeout', $1, false)`, milliseconds(s.lockTimeout)); err != nil {
		return fmt.Errorf("set lock_timeout on the migration session: %w", err)
	}
	if s.clientCheckInterval <= 0 {
		return nil
	}
	_, err := conn.Exec(ctx, `SELECT set_config('client_connection_check_interval', $1, false)`, milliseconds(s.clientCheckInterval))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42704" { // undefined_object: before 14
		return nil
	}
	if err != nil {
		return fmt.Errorf("set client_connection_check_interval on the migration session: %w", err)
	}
	return nil
}

func milliseconds(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + "ms" }

// migrationLockID is the key of golang-migrate's advisory lock for the
// schema_migrations table of schema in database, as its pgx driver takes it.
func migrationLockID(databaseName, schema string) int64 {
	id, err := database.GenerateAdvisoryLockId(databaseName, schema, migrationsTable)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(id, 10, 64)
	return n
}

// driver is golang-migrate's pgx driver, with the session's lock waits
// retried and reported, and a migration's outcome recorded with it:
//
//   - golang-migrate records the version a migration leads to dirty, runs
//     the migration, and records it clean. Run records it clean in the
//     migration's own transaction, so that a migration whose client died
//     and whose backend ran on to commit it leaves the version clean.
//   - A migration Postgres failed with an error was rolled back (each runs
//     as one multi-statement query, which Postgres runs as one
//     transaction), so Run records the version from before it, clean,
//     instead of leaving it dirty; the next run tries the migration again.
//     Only a migration whose connection was lost leaves the version dirty:
//     whether it committed is unknown then.
type driver struct {
	database.Driver
	migrator
	ctx    context.Context
	logger *slog.Logger
	cfg    *pgx.ConnConfig
	pid    atomic.Uint32 // the session's backend
	table  string        // golang-migrate's, qualified
	lockID int64         // golang-migrate's advisory lock

	// version is the clean version the schema was last read or recorded
	// at, when known; from and target are the versions around the
	// migration golang-migrate last recorded dirty, and marked whether Run
	// recorded target clean.
	version      int
	versionKnown bool
	from, target int
	marked       bool

	watcher    *pgx.Conn // reads pg_locks while the session waits
	lastHolder int32     // the migration lock's holder last reported
}

func (d *driver) Version() (int, bool, error) {
	v, dirty, err := d.Driver.Version()
	if err == nil && !dirty {
		d.version, d.versionKnown = v, true
	}
	return v, dirty, err
}

func (d *driver) SetVersion(version int, dirty bool) error {
	if !dirty && d.marked && version == d.target {
		// Run recorded it, in the migration's transaction.
		d.marked = false
		d.version, d.versionKnown = version, true
		return nil
	}
	if err := d.Driver.SetVersion(version, dirty); err != nil {
		return err
	}
	if dirty {
		d.from, d.target, d.marked = d.version, version, false
	} else {
		d.version, d.versionKnown = version, true
	}
	return nil
}

func (d *driver) Lock() error {
	for {
		err := d.Driver.Lock()
		if !isLockTimeout(err) {
			return err
		}
		if err := d.awaitMigrationLock(); err != nil {
			return err
		}
	}
}

// awaitMigrationLock follows a wait for golang-migrate's lock that ended at
// lock_timeout: it fails once ctx is done, and otherwise says, once per
// holder, which backend holds the lock, before the caller waits again.
func (d *driver) awaitMigrationLock() error {
	if err := d.ctx.Err(); err != nil {
		return fmt.Errorf("wait for another migration to finish: %w", err)
	}
	conn := d.watch()
	if conn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(d.ctx, 5*time.Second)
	defer cancel()
	holder, err := migrationLockHolder(ctx, conn, d.lockID)
	if err != nil || holder == nil || holder.Pid == d.lastHolder {
		return nil
	}
	d.lastHolder = holder.Pid
	d.logger.Info("waiting for another migration to finish", holder.attrs("holder_")...)
	return nil
}

func (d *driver) Run(migration io.Reader) error {
	body, err := io.ReadAll(migration)
	if err != nil {
		return err
	}
	text := string(body)
	if d.table != "" {
		// After a file's last line, which may be a comment.
		text += fmt.Sprintf("\n;\nUPDATE %s SET dirty = false WHERE version = %d", d.table, d.target)
	}
	file := d.failing()
	var waited *lockWait // the last lock wait seen, in any attempt
	pause := d.backoff
	for attempt := 1; ; attempt++ {
		stop := d.watchLockWaits()
		err := d.Driver.Run(strings.NewReader(text))
		if w := stop(); w != nil {
			waited = w
		}
		if err == nil {
			d.marked = d.table != ""
			return nil
		}
		pgErr := pgErrorOf(err)
		// An ERROR leaves the session, and Postgres rolled the migration
		// back; a FATAL or a lost connection leaves its outcome unknown.
		rolledBack := pgErr != nil && severity(pgErr) == "ERROR"
		if rolledBack && refusedLock(pgErr) && attempt < d.attempts {
			attrs := []any{"migration", file, "attempt", attempt, "attempts", d.attempts, "retry_in", pause, "sqlstate", pgErr.Code, "error", pgErr.Message}
			if waited != nil {
				attrs = append(attrs, waited.attrs()...)
			}
			d.logger.Warn("migration refused a lock; it was rolled back and runs again", attrs...)
			select {
			case <-time.After(pause):
				pause = min(2*pause, maxBackoff)
				continue
			case <-d.ctx.Done():
			}
		}
		failure := &migrationError{
			err:        readable(err, "migration "+file),
			attempts:   attempt,
			rolledBack: rolledBack,
			target:     d.target,
			restoredTo: d.from,
		}
		// What it waited for explains a lock refused, or a wait cut short.
		if !rolledBack || refusedLock(pgErr) {
			failure.waited = waited
		}
		switch {
		case rolledBack && !d.versionKnown:
			failure.restoreErr = errors.New("golang-migrate did not read the version before it")
		case rolledBack:
			failure.restoreErr = d.Driver.SetVersion(d.from, false)
			failure.restored = failure.restoreErr == nil
			if failure.restored {
				d.version = d.from
			}
		}
		return failure
	}
}

// failing names the migration golang-migrate last recorded dirty.
func (d *driver) failing() string {
	if d.target > d.from {
		return strings.TrimPrefix(migrationFileIn(d.files, uint(d.target), "up"), "migration ")
	}
	return strings.TrimPrefix(migrationFileIn(d.files, uint(max(d.from, 0)), "down"), "migration ")
}

func (d *driver) Close() error {
	err := d.Driver.Close()
	d.closeWatcher()
	return err
}

// watch returns the connection that reads what the session waits on,
// connecting it if need be; nil when it cannot connect, since what it
// reads only adds to a log line or an error.
func (d *driver) watch() *pgx.Conn {
	if d.watcher != nil && !d.watcher.IsClosed() {
		return d.watcher
	}
	ctx, cancel := context.WithTimeout(d.ctx, 5*time.Second)
	defer cancel()
	conn, err := connect(ctx, d.cfg)
	if err != nil {
		d.logger.Debug("cannot connect to watch the migration session's lock waits", "error", err)
		return nil
	}
	d.watcher = conn
	return conn
}

func (d *driver) closeWatcher() {
	if d.watcher != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = d.watcher.Close(ctx)
		d.watcher = nil
	}
}

// watchLockWaits reads, until stop, what the session waits on whenever it
// waits for a lock, and who holds it; stop returns the last it saw. Postgres
// says nothing of it in the lock timeout's error.
func (d *driver) watchLockWaits() (stop func() *lockWait) {
	pid := int32(d.pid.Load())
	if d.lockTimeout <= 0 || pid == 0 {
		return func() *lockWait { return nil }
	}
	conn := d.watch()
	if conn == nil {
		return func() *lockWait { return nil }
	}
	// A wait lasts lockTimeout: a few looks catch it.
	every := min(max(d.lockTimeout/4, 10*time.Millisecond), time.Second)
	done, stopped := make(chan struct{}), make(chan struct{})
	var seen *lockWait
	go func() {
		defer close(stopped)
		ticker := time.NewTicker(every)
		defer ticker.Stop()
		for {
			select {
			case <-done:
				return
			case <-ticker.C:
			}
			// Not cut short by stop: a cancelled query closes the
			// connection.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			w, err := lockWaitOf(ctx, conn, pid)
			cancel()
			if err == nil && w != nil {
				seen = w
			}
		}
	}()
	return func() *lockWait {
		close(done)
		<-stopped
		return seen
	}
}

// migrationError is a migration that failed, and what became of it.
type migrationError struct {
	err        error // readable's
	attempts   int
	waited     *lockWait
	rolledBack bool
	target     int // the version golang-migrate recorded dirty
	restoredTo int // the version before it
	restored   bool
	restoreErr error
}

func (e *migrationError) Unwrap() error { return e.err }

func (e *migrationError) Error() string {
	var b strings.Builder
	b.WriteString(e.err.Error())
	if e.attempts > 1 {
		fmt.Fprintf(&b, ", after %d attempts", e.attempts)
	}
	if e.waited != nil {
		fmt.Fprintf(&b, "; it waited for %s", e.waited)
	}
	switch {
	case e.restored:
		fmt.Fprintf(&b, "; Postgres rolled it back: it changed nothing, and the schema version is still %s, clean; "+
			"run the command again once the cause is gone (easel serve runs it on its next start)", versionName(e.restoredTo))
	case e.rolledBack:
		fmt.Fprintf(&b, "; Postgres rolled it back: it changed nothing, but recording schema version %s failed (%v), "+
			"so the version stays %s, dirty: run `easel migrate force %s`", versionName(e.restoredTo), e.restoreErr, versionName(e.target), versionName(e.restoredTo))
	default:
		fmt.Fprintf(&b, "; the connection was lost while it ran, so it may have been rolled back, have committed, or still be running: "+
			"the schema version stays %s, dirty, and easel migrate version says what to do", versionName(e.target))
	}
	return b.String()
}

func versionName(v int) string { return strconv.Itoa(max(v, 0)) }

// pgErrorOf finds Postgres's error in err, inside golang-migrate's
// database.Error too, which does not unwrap.
func pgErrorOf(err error) *pgconn.PgError {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr
	}
	if dbErr, ok := migrateError(err); ok && errors.As(dbErr.OrigErr, &pgErr) {
		return pgErr
	}
	return nil
}

func severity(pgErr *pgconn.PgError) string {
	if pgErr.SeverityUnlocalized != "" {
		return pgErr.SeverityUnlocalized
	}
	return pgErr.Severity
}

// isLockTimeout reports whether err is the session's lock_timeout.
func isLockTimeout(err error) bool {
	pgErr := pgErrorOf(err)
	return pgErr != nil && pgErr.Code == "55P03" // lock_not_available
}

// refusedLock reports whether a migration failed for a lock that another
// session held, which a later attempt may get.
func refusedLock(pgErr *pgconn.PgError) bool {
	return pgErr.Code == "55P03" || pgErr.Code == "40P01" // lock_not_available, deadlock_detected
}

// backend describes a Postgres backend as pg_stat_activity shows it.
type backend struct {
	Pid   int32
	App   string
	State string
	For   time.Duration // since its transaction, else its query, began
	Query string
}

func (b backend) String() string {
	var about []string
	if b.App != "" {
		about = append(about, b.App)
	}
	if b.State != "" {
		about = append(about, fmt.Sprintf("%s for %s", b.State, b.For.Round(time.Second)))
	}
	s := fmt.Sprintf("backend pid %d", b.Pid)
	if len(about) > 0 {
		s += " (" + strings.Join(about, ", ")
		if b.Query != "" {
			s += ": " + b.Query
		}
		s += ")"
	}
	return s
}

func (b backend) attrs(prefix string) []any {
	return []any{prefix + "pid", b.Pid, prefix + "application_name", b.App, prefix + "state", b.State,
		prefix + "for", b.For.Round(time.Millisecond), prefix + "query", b.Query}
}

// lockWait is a lock the migration session waited for, and a backend that
// held it.
type lockWait struct {
	Mode   string // AccessExclusiveLock, ...
	Object string // relation generations, ...
	Holder backend
}

func (w *lockWait) String() string {
	return fmt.Sprintf("%s on %s, held by %s", w.Mode, w.Object, w.Holder)
}

func (w *lockWait) attrs() []any {
	return append([]any{"waited_for", w.Mode + " on " + w.Object}, w.Holder.attrs("blocker_")...)
}

// backendColumns reads a backend from pg_stat_activity a, its query on one
// line and shortened.
const backendColumns = `a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''),
	coalesce(extract(epoch FROM clock_timestamp() - coalesce(a.xact_start, a.query_start)), 0)::float8,
	left(regexp_replace(coalesce(a.query, ''), '\s+', ' ', 'g'), 200)`

func scanBackend(row pgx.Row, extra ...any) (*backend, error) {
	var b backend
	var seconds float64
	if err := row.Scan(append([]any{&b.Pid, &b.App, &b.State, &seconds, &b.Query}, extra...)...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil
		}
		return nil, err
	}
	b.For = time.Duration(seconds * float64(time.Second))
	return &b, nil
}

// lockWaitOf is the lock backend pid waits for, if any, and the backend
// blocking it that has been in its transaction longest: the one the others
// queue behind.
func lockWaitOf(ctx context.Context, conn *pgx.Conn, pid int32) (*lockWait, error) {
	var w lockWait
	b, err := scanBackend(conn.QueryRow(ctx, `SELECT `+backendColumns+`, w.mode,
			CASE WHEN w.relation IS NOT NULL THEN 'relation ' || w.relation::regclass::text ELSE w.locktype END
		FROM pg_locks w
		CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS blocker(pid)
		JOIN pg_stat_activity a ON a.pid = blocker.pid
		WHERE w.pid = $1 AND NOT w.granted
		ORDER BY coalesce(a.xact_start, a.query_start) NULLS LAST
		LIMIT 1`, pid), &w.Mode, &w.Object)
	if err != nil || b == nil {
		return nil, err
	}
	w.Holder = *b
	return &w, nil
}

// migrationLockHolder is the backend, other than conn's, that holds
// golang-migrate's advisory lock lockID in conn's database: one running
// migrations, or nil.
func migrationLockHolder(ctx context.Context, conn *pgx.Conn, lockID int64) (*backend, error) {
	return scanBackend(conn.QueryRow(ctx, `SELECT `+backendColumns+`
		FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid()
			AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND l.classid = 0 AND l.objid::bigint = $1 AND l.objsubid = 1
		LIMIT 1`, lockID))
}

type migrateLogger struct{ logger *slog.Logger }

func (l migrateLogger) Printf(format string, v ...any) {
	l.logger.Info(strings.TrimSpace(fmt.Sprintf(format, v...)))
}

func (l migrateLogger) Verbose() bool { return false }
