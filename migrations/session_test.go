package migrations_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/migrations"
)

// The probe migration follows the embedded ones, as a newer release's
// would: it needs ACCESS EXCLUSIVE on generations, which a test holds off.
var (
	newest       = newestEmbedded()
	probeVersion = newest + 1
	probeFile    = fmt.Sprintf("%06d_probe.up.sql", probeVersion)
	probeUp      = "ALTER TABLE generations ADD COLUMN probe integer;\n" +
		fmt.Sprintf("UPDATE easel_schema_compatibility SET schema_version = %d;\n", probeVersion)
	probeDown = "ALTER TABLE generations DROP COLUMN probe;\n" +
		fmt.Sprintf("UPDATE easel_schema_compatibility SET schema_version = %d;\n", newest)
)

// newestEmbedded is the embedded migrations' newest version, so that the
// cases here follow each new migration without edits.
func newestEmbedded() uint {
	v, err := migrations.Latest()
	if err != nil {
		panic(err)
	}
	return v
}

// embeddedFile is the name of the embedded migration file of version in
// direction ("up" or "down").
func embeddedFile(t *testing.T, version uint, direction string) string {
	t.Helper()
	names, err := fs.Glob(migrations.FS(), fmt.Sprintf("%06d_*.%s.sql", version, direction))
	require.NoError(t, err)
	require.Len(t, names, 1, "migration %d %s", version, direction)
	return names[0]
}

// withProbe is the embedded migrations and the probe migration, of up and
// down.
func withProbe(t *testing.T, up, down string) fs.FS {
	t.Helper()
	fsys := fstest.MapFS{}
	entries, err := fs.ReadDir(migrations.FS(), ".")
	require.NoError(t, err)
	for _, e := range entries {
		data, err := fs.ReadFile(migrations.FS(), e.Name())
		require.NoError(t, err)
		fsys[e.Name()] = &fstest.MapFile{Data: data}
	}
	fsys[probeFile] = &fstest.MapFile{Data: []byte(up)}
	fsys[fmt.Sprintf("%06d_probe.down.sql", probeVersion)] = &fstest.MapFile{Data: []byte(down)}
	return fsys
}

type sessionBundle struct {
	url       string // at the embedded migrations' newest version
	files     fs.FS  // with the probe migration
	logs      *logRecords
	holderPID uint32
	release   func() // ends the holder's transaction; idempotent
}

// setupSession gives a database whose generations table another session
// holds ACCESS SHARE on, in a transaction, until release: as a long report
// does.
func setupSession(t *testing.T) *sessionBundle {
	t.Helper()
	ctx := context.Background()
	b := &sessionBundle{url: dbtest.URL(t), files: withProbe(t, probeUp, probeDown), logs: &logRecords{}}
	conn := connectTo(t, b.url)
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `LOCK TABLE generations IN ACCESS SHARE MODE`)
	require.NoError(t, err)
	b.holderPID = conn.PgConn().PID()
	var once sync.Once
	b.release = func() { once.Do(func() { require.NoError(t, tx.Commit(ctx)) }) }
	t.Cleanup(b.release)
	return b
}

// awaitLockWait waits for a migration session to wait for a lock of
// locktype, and returns its backend's pid.
func (b *sessionBundle) awaitLockWait(t *testing.T, locktype string) int32 {
	t.Helper()
	conn := connectTo(t, b.url)
	var pid int32
	require.Eventually(t, func() bool {
		err := conn.QueryRow(context.Background(), `SELECT a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE NOT l.granted AND l.locktype = $1 AND a.application_name = 'easel migrate' AND a.datname = current_database()`, locktype).Scan(&pid)
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "a migration session waits for a %s lock", locktype)
	return pid
}

// awaitGone waits for backend pid to end.
func (b *sessionBundle) awaitGone(t *testing.T, pid int32) {
	t.Helper()
	conn := connectTo(t, b.url)
	require.Eventually(t, func() bool {
		var gone bool
		err := conn.QueryRow(context.Background(), `SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1)`, pid).Scan(&gone)
		return err == nil && gone
	}, 10*time.Second, 10*time.Millisecond, "backend %d ends", pid)
}

func (b *sessionBundle) probeColumn(t *testing.T) bool {
	t.Helper()
	var exists bool
	require.NoError(t, connectTo(t, b.url).QueryRow(context.Background(),
		`SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'generations'::regclass AND attname = 'probe' AND NOT attisdropped)`).Scan(&exists))
	return exists
}

func (b *sessionBundle) version(t *testing.T) (uint, bool) {
	t.Helper()
	version, dirty, err := migrations.CurrentVersion(context.Background(), b.url)
	require.NoError(t, err)
	return version, dirty
}

func upAsync(ctx context.Context, m migrations.Migrator, url string, logger *slog.Logger) <-chan error {
	done := make(chan error, 1)
	go func() { done <- m.Up(ctx, url, logger) }()
	return done
}

// A migration refused a lock was rolled back, and runs again until it gets
// it; each retry is logged with the lock and the backend that held it.
func TestUpRetriesMigrationRefusedALock(t *testing.T) {
	t.Parallel()

	b := setupSession(t)
	m := migrations.Migrator{Files: b.files, LockTimeout: 100 * time.Millisecond, Attempts: 1000, Backoff: time.Millisecond}
	done := upAsync(context.Background(), m, b.url, b.logs.logger())

	retry := b.logs.await(t, func(r logRecord) bool {
		return r.message == "migration refused a lock; it was rolled back and runs again" && r.attrs["blocker_pid"] == fmt.Sprint(b.holderPID)
	})
	require.Equal(t, probeFile, retry.attrs["migration"])
	require.Equal(t, "55P03", retry.attrs["sqlstate"])
	require.Equal(t, "AccessExclusiveLock on relation generations", retry.attrs["waited_for"])
	require.Equal(t, "idle in transaction", retry.attrs["blocker_state"])
	require.Equal(t, "LOCK TABLE generations IN ACCESS SHARE MODE", retry.attrs["blocker_query"])
	require.False(t, b.probeColumn(t), "each attempt was rolled back")

	b.release()
	require.NoError(t, <-done)
	version, dirty := b.version(t)
	require.Equal(t, probeVersion, version)
	require.False(t, dirty)
	require.True(t, b.probeColumn(t))
}

// A migration refused a lock on every attempt fails, leaving the schema as
// it was and its version clean: the next run tries it again.
func TestUpGivesUpOnALock(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	b := setupSession(t)
	m := migrations.Migrator{Files: b.files, LockTimeout: 2 * time.Second, Attempts: 2, Backoff: time.Millisecond} // long enough for the watcher to see the wait on a loaded machine

	err := m.Up(ctx, b.url, b.logs.logger())
	require.ErrorContains(t, err, "migrate up: migration "+probeFile+" failed: ERROR: canceling statement due to lock timeout (SQLSTATE 55P03), after 2 attempts; "+
		fmt.Sprintf("it waited for AccessExclusiveLock on relation generations, held by backend pid %d (", b.holderPID))
	require.ErrorContains(t, err, "idle in transaction for ")
	require.ErrorContains(t, err, fmt.Sprintf("; Postgres rolled it back: it changed nothing, and the schema version is still %d, clean; run the command again once the cause is gone", newest))
	require.NotErrorIs(t, err, migrations.ErrDirty)
	version, dirty := b.version(t)
	require.Equal(t, newest, version)
	require.False(t, dirty)
	require.False(t, b.probeColumn(t))
	require.Len(t, b.logs.matching("migration refused a lock; it was rolled back and runs again"), 1, "one retry of 2 attempts")

	b.release()
	require.NoError(t, m.Up(ctx, b.url, nil))
	require.True(t, b.probeColumn(t))
}

// The migration session's settings: a lock_timeout, a check that aborts a
// migration whose client died, and a name in pg_stat_activity.
func TestMigrationSessionSettings(t *testing.T) {
	t.Parallel()

	files := withProbe(t, `CREATE TABLE probe_settings AS SELECT current_setting('lock_timeout') AS lock_timeout,
		current_setting('client_connection_check_interval') AS check_interval, current_setting('application_name') AS application_name;
		UPDATE easel_schema_compatibility SET schema_version = `+fmt.Sprint(probeVersion)+`;`, `DROP TABLE probe_settings;`)
	tests := []struct {
		name      string
		urlParams string
		want      [3]string
	}{
		{name: "Up's", want: [3]string{"5s", "2s", "easel migrate"}},
		{name: "application_name from DATABASE_URL", urlParams: "&application_name=deployer", want: [3]string{"5s", "2s", "easel migrate (deployer)"}},
		{name: "a migration's application_name from DATABASE_URL", urlParams: "&application_name=easel%20migrate%20job", want: [3]string{"5s", "2s", "easel migrate job"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := dbtest.URL(t)
			require.NoError(t, migrations.DefaultMigrator(files).Up(context.Background(), url+tt.urlParams, nil))
			var got [3]string
			require.NoError(t, connectTo(t, url).QueryRow(context.Background(), `SELECT lock_timeout, check_interval, application_name FROM probe_settings`).
				Scan(&got[0], &got[1], &got[2]))
			require.Equal(t, tt.want, got)
		})
	}
}

// A migrating process that dies mid-migration (kill -9) leaves its backend
// running the migration: while it does, the dirty version says so and names
// it; client_connection_check_interval then has Postgres abort it, and the
// schema says the migration did not commit.
func TestKilledMigrationIsAborted(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	b := setupSession(t)
	p := startProxy(t, b.url)
	m := migrations.Migrator{Files: b.files, ClientCheckInterval: 100 * time.Millisecond} // no lock_timeout: it waits
	done := upAsync(ctx, m, p.url, nil)
	pid := b.awaitLockWait(t, "relation")

	err := m.ExplainDirty(ctx, b.url, probeVersion)
	require.ErrorIs(t, err, migrations.ErrDirty)
	require.ErrorContains(t, err, fmt.Sprintf("dirty schema version %d: a migration is still running in backend pid %d (easel migrate, active for ", probeVersion, pid))
	require.ErrorContains(t, err, "wait for it to finish, then check the schema with easel migrate version")

	p.cut()
	err = <-done
	require.ErrorContains(t, err, "migrate up: migration "+probeFile+" failed: ")
	require.ErrorContains(t, err, "; the connection was lost while it ran, so it may have been rolled back, have committed, or still be running: "+
		fmt.Sprintf("the schema version stays %d, dirty, and easel migrate version says what to do", probeVersion))

	b.awaitGone(t, pid) // while the lock it waits for is still held
	b.release()
	require.False(t, b.probeColumn(t), "Postgres aborted the migration")
	version, dirty := b.version(t)
	require.Equal(t, probeVersion, version)
	require.True(t, dirty)

	want := fmt.Sprintf("easel_schema_compatibility, which each migration from 24 on sets in its own transaction, records version %d, so ", newest) +
		probeFile + fmt.Sprintf(" did not commit, and changed nothing: run `easel migrate force %d`", newest)
	require.ErrorContains(t, m.ExplainDirty(ctx, b.url, probeVersion), want)
	err = m.Up(ctx, b.url, nil)
	require.ErrorIs(t, err, migrations.ErrDirty)
	require.ErrorContains(t, err, fmt.Sprintf("migrate up: dirty schema version %d: ", probeVersion))
	require.ErrorContains(t, err, want)
}

// Without client_connection_check_interval (before Postgres 14), the
// backend of a dead migrating process runs its migration on to the commit,
// and records the version clean in the migration's transaction.
func TestOrphanedMigrationRecordsItsVersion(t *testing.T) {
	t.Parallel()

	b := setupSession(t)
	p := startProxy(t, b.url)
	m := migrations.Migrator{Files: b.files}
	done := upAsync(context.Background(), m, p.url, nil)
	pid := b.awaitLockWait(t, "relation")

	p.cut()
	require.ErrorContains(t, <-done, "the connection was lost while it ran")
	b.release()
	b.awaitGone(t, pid)
	require.True(t, b.probeColumn(t), "the orphaned backend committed the migration")
	version, dirty := b.version(t)
	require.Equal(t, probeVersion, version)
	require.False(t, dirty, "and its clean version with it")
}

// While another process migrates, Up waits for it, saying which backend it
// waits for, as long as its context allows.
func TestUpWaitsForAnotherMigration(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	b := setupSession(t)
	first := upAsync(ctx, migrations.Migrator{Files: b.files}, b.url, nil)
	pid := b.awaitLockWait(t, "relation")

	waiting := func(logs *logRecords) logRecord {
		return logs.await(t, func(r logRecord) bool {
			return r.message == "waiting for another migration to finish" && r.attrs["holder_pid"] == fmt.Sprint(pid)
		})
	}
	m := migrations.Migrator{Files: b.files, LockTimeout: 50 * time.Millisecond, Attempts: 1}
	cancelled, cancel := context.WithCancel(ctx)
	logs := &logRecords{}
	given := upAsync(cancelled, m, b.url, logs.logger())
	require.Equal(t, "easel migrate", waiting(logs).attrs["holder_application_name"])
	cancel()
	err := <-given
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "migrate up: wait for another migration to finish: context canceled")

	second := upAsync(ctx, m, b.url, b.logs.logger())
	waiting(b.logs)
	b.release()
	require.NoError(t, <-first)
	require.NoError(t, <-second)
	version, dirty := b.version(t)
	require.Equal(t, probeVersion, version)
	require.False(t, dirty)
	require.Len(t, b.logs.matching("waiting for another migration to finish"), 1, "said once per holder")
}

// ExplainDirty reads the schema's version from easel_schema_compatibility,
// which each migration from 24 on writes in its own transaction.
func TestExplainDirty(t *testing.T) {
	t.Parallel()

	// The cases from the newest migration need the row of the one before.
	require.Greater(t, newest, uint(24), "the newest migration follows 24's")
	tests := []struct {
		name    string
		setup   []string // on a database at the newest version
		version uint
		want    string
	}{
		{
			name: "the migration committed", version: newest,
			want: fmt.Sprintf("records version %[1]d, so the schema is at version %[1]d: the migration that led to it committed: run `easel migrate force %[1]d`", newest),
		},
		{
			name: "an up migration did not commit", version: newest,
			setup: []string{fmt.Sprintf(`UPDATE easel_schema_compatibility SET schema_version = %d`, newest-1)},
			want: fmt.Sprintf("records version %d, so %s did not commit, and changed nothing: run `easel migrate force %d`",
				newest-1, embeddedFile(t, newest, "up"), newest-1),
		},
		{
			name: "a down migration did not commit", version: newest - 1,
			want: fmt.Sprintf("records version %d, so %s did not commit, and changed nothing: run `easel migrate force %d`",
				newest, embeddedFile(t, newest, "down"), newest),
		},
		{
			name: "a newer binary's down migration did not commit", version: newest,
			setup: []string{fmt.Sprintf(`UPDATE easel_schema_compatibility SET schema_version = %d`, newest+1)},
			want: fmt.Sprintf("records version %[1]d, so the down migration of version %[1]d did not commit, and changed nothing: "+
				"run `easel migrate force %[1]d` with an easel whose migrations reach version %[1]d", newest+1),
		},
		{
			name: "migration 24 did not commit", version: 24, setup: []string{`DROP TABLE easel_schema_compatibility`},
			want: "000024_schema_compatibility.up.sql creates easel_schema_compatibility, which does not exist: it did not commit, and changed nothing. Run `easel migrate force 23`",
		},
		{
			name: "no record", version: 23, setup: []string{`DROP TABLE easel_schema_compatibility`},
			want: "find out whether it committed by looking for what its file creates, alters or drops (psql's \\d). If 000023_generation_fal_status.up.sql",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := dbtest.URL(t)
			exec(t, url, tt.setup...)
			setVersion(t, url, int64(tt.version), true)
			before := stateOf(t, url)

			err := migrations.ExplainDirty(context.Background(), url, tt.version)
			require.ErrorIs(t, err, migrations.ErrDirty)
			require.ErrorContains(t, err, fmt.Sprintf("dirty schema version %d: a migration to or from this version failed or was interrupted before its outcome was recorded", tt.version))
			require.ErrorContains(t, err, tt.want)
			require.Equal(t, before, stateOf(t, url), "it changes nothing")
		})
	}
}

// logRecords keeps what a logger logs, for a test to await.
type logRecords struct {
	mu      sync.Mutex
	records []logRecord
}

type logRecord struct {
	message string
	attrs   map[string]string
}

func (l *logRecords) logger() *slog.Logger { return slog.New(recordHandler{l}) }

func (l *logRecords) await(t *testing.T, match func(logRecord) bool) logRecord {
	t.Helper()
	var found logRecord
	require.Eventually(t, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		i := slices.IndexFunc(l.records, match)
		if i >= 0 {
			found = l.records[i]
		}
		return i >= 0
	}, 10*time.Second, 5*time.Millisecond, "a matching log record")
	return found
}

func (l *logRecords) matching(message string) []logRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []logRecord
	for _, r := range l.records {
		if r.message == message {
			out = append(out, r)
		}
	}
	return out
}

type recordHandler struct{ l *logRecords }

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h recordHandler) WithGroup(string) slog.Handler            { return h }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{message: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	h.l.records = append(h.l.records, rec)
	return nil
}

// proxy stands between a migrating process and Postgres: cut closes every
// connection through it at once, as the process's death would.
type proxy struct {
	url   string // the database's URL, through the proxy
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	isCut bool
}

func startProxy(t *testing.T, databaseURL string) *proxy {
	t.Helper()
	u, err := url.Parse(databaseURL)
	require.NoError(t, err)
	target := u.Host
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	u.Host = ln.Addr().String()
	p := &proxy{url: u.String(), ln: ln}
	t.Cleanup(p.cut)
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			if !p.track(client, server) {
				return
			}
			go pipe(client, server)
			go pipe(server, client)
		}
	}()
	return p
}

func (p *proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.isCut {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	p.conns = append(p.conns, conns...)
	return true
}

func pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isCut = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
