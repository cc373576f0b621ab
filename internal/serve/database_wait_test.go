package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/logtest"
)

// fakeClock is a databaseWait's clock that moves only when the wait pauses
// or a connection attempt says how long it took.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func (c *fakeClock) after(d time.Duration) <-chan time.Time {
	c.t = c.t.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.t
	return ch
}

func TestWaitForDatabase(t *testing.T) {
	t.Parallel()
	shuttingDown := &pgconn.PgError{Code: "57P03", Message: "the database system is shutting down"}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	// What a server that accepts connections and never answers returns once
	// the attempt's context ends.
	noAnswer := &net.OpError{Op: "read", Net: "tcp", Err: context.DeadlineExceeded}
	wrongPassword := &pgconn.PgError{Code: "28P01", Message: "password authentication failed"}
	missing := &pgconn.PgError{Code: "3D000", Message: `database "easel" does not exist`}
	never := func(err error) []error {
		errs := make([]error, 1000)
		for i := range errs {
			errs[i] = err
		}
		return errs
	}

	const maxWait, firstRetry = 30 * time.Second, 100 * time.Millisecond
	tests := []struct {
		name    string
		errs    []error       // what each connection attempt returns; then success
		attempt time.Duration // how long each attempt takes, unless its context ends first
		wantErr []error
		// wantCalls counts the attempts; wantWaited is how long the wait
		// took on its clock.
		wantCalls  int
		wantWaited time.Duration
		wantLogs   []string
	}{
		{name: "up", wantCalls: 1},
		{name: "restarting, then up", errs: []error{shuttingDown, refused, refused}, wantCalls: 4, wantWaited: 700 * time.Millisecond,
			wantLogs: []string{"database unreachable; waiting for it", "database reachable; starting"}},
		{name: "missing: it is created next", errs: []error{missing}, wantCalls: 1},
		{name: "wrong password: no waiting", errs: []error{wrongPassword}, wantErr: []error{wrongPassword}, wantCalls: 1},
		// Attempts at 0, 0.1, 0.3, 0.7, 1.5, 3.1 s, then every 2 s to
		// 29.1 s, when a pause of 2 s would pass the deadline.
		{name: "refusing", errs: never(refused), wantErr: []error{errDatabaseWaitOver, refused}, wantCalls: 19, wantWaited: 29100 * time.Millisecond,
			wantLogs: []string{"database unreachable; waiting for it"}},
		// Attempts of 5 s from 0, 5.1, 10.3, 15.7 and 21.5 s, then one from
		// 28.1 s that the deadline ends at 30 s. Counting only the pauses,
		// as the wait once did, this took 124 s.
		{name: "accepting, never answering", errs: never(noAnswer), attempt: 5 * time.Second, wantErr: []error{errDatabaseWaitOver, context.DeadlineExceeded},
			wantCalls: 6, wantWaited: maxWait, wantLogs: []string{"database unreachable; waiting for it"}},
		{name: "answering at 28.1 s", errs: []error{noAnswer, noAnswer, noAnswer, noAnswer, noAnswer}, attempt: 5 * time.Second, wantCalls: 6,
			wantWaited: 28100 * time.Millisecond, wantLogs: []string{"database unreachable; waiting for it", "database reachable; starting"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logs := &logtest.Buffer{}
			// The attempts' deadlines are real contexts' too: the clock
			// starts now, so that none of them has passed in real time.
			clock := &fakeClock{t: time.Now()}
			start := clock.t
			calls := 0
			connect := func(ctx context.Context) error {
				calls++
				took := tt.attempt
				if calls > len(tt.errs) {
					took = 0
				}
				deadline, ok := ctx.Deadline()
				require.True(t, ok, "every attempt has a deadline")
				if end := clock.t.Add(took); end.After(deadline) {
					clock.t = deadline
					return &net.OpError{Op: "read", Net: "tcp", Err: context.DeadlineExceeded}
				}
				clock.t = clock.t.Add(took)
				if calls <= len(tt.errs) {
					return tt.errs[calls-1]
				}
				return nil
			}
			w := databaseWait{maxWait: maxWait, firstRetry: firstRetry, now: clock.now, after: clock.after}
			err := w.wait(context.Background(), connect, slog.New(slog.NewJSONHandler(logs, nil)))
			if tt.wantErr != nil {
				for _, want := range tt.wantErr {
					require.ErrorIs(t, err, want)
				}
				require.NotContains(t, err.Error(), "\n")
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tt.wantCalls, calls)
			require.Equal(t, tt.wantWaited, clock.t.Sub(start))
			require.Equal(t, tt.wantLogs, logMessages(t, logs))
		})
	}
}

// A server that accepts connections and never answers holds an attempt
// until the wait's deadline, and no longer: each attempt here may otherwise
// take an hour, so only the wait's deadline can end it in time.
func TestWaitForDatabaseEndsAtItsDeadline(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 100)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- conn // held open, never answered
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for {
			select {
			case conn := <-accepted:
				conn.Close()
			default:
				return
			}
		}
	})

	// Should the deadline not end the attempt, this context does, with an
	// error the assertions below refuse.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	connect := connectWithin("postgres://postgres@"+ln.Addr().String()+"/easel?sslmode=disable", time.Hour)
	prepared := false
	prepare := func(context.Context) error { prepared = true; return nil }
	err = prepareDatabase(ctx, connect, prepare, slog.New(slog.DiscardHandler), 200*time.Millisecond, 10*time.Millisecond)
	require.False(t, prepared, "nothing to prepare without a database")
	require.ErrorIs(t, err, errDatabaseWaitOver)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "connect to the database: gave up waiting for it after 200ms")
	require.NoError(t, ctx.Err(), "the wait's deadline ended it, not the test's")
	select {
	case conn := <-accepted:
		accepted <- conn // for the cleanup to close
	case <-time.After(10 * time.Second):
		require.Fail(t, "the attempt never reached the listener")
	}
}

// Postgres restarting after the start-up wait found it, while the schema is
// read or migrated, sends the start back to waiting, within the same
// deadline; other failures end it at once.
func TestPrepareDatabase(t *testing.T) {
	t.Parallel()
	terminated := &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}
	dirty := errors.New("migrate up: schema version 19 is dirty")
	closed := fmt.Errorf("migrate up: connect to database %q: failed to receive message: %w", "easel", io.ErrUnexpectedEOF)

	const maxWait, firstRetry = 30 * time.Second, 100 * time.Millisecond
	tests := []struct {
		name string
		// errs is what each prepare returns, each after 10 s on the clock;
		// then success.
		errs         []error
		wantErr      error
		wantPrepares int
		wantLogs     []string
	}{
		{name: "prepared", wantPrepares: 1},
		{name: "restarted while migrating, then prepared", errs: []error{terminated}, wantPrepares: 2,
			wantLogs: []string{"database went away while being prepared; waiting for it again"}},
		// As make chaos saw, from a worker restarted while Postgres
		// restarted (TestClosedConnectionIsTransient makes a real one).
		{name: "connection closed while migrating, then prepared", errs: []error{closed}, wantPrepares: 2,
			wantLogs: []string{"database went away while being prepared; waiting for it again"}},
		{name: "migration left dirty: no waiting", errs: []error{dirty}, wantErr: dirty, wantPrepares: 1},
		// At 0, 10 and 20 s; the third ends at the deadline.
		{name: "restarting for longer than the wait", errs: []error{terminated, terminated, terminated, terminated}, wantErr: terminated, wantPrepares: 3,
			wantLogs: []string{
				"database went away while being prepared; waiting for it again",
				"database went away while being prepared; waiting for it again",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logs := &logtest.Buffer{}
			clock := &fakeClock{t: time.Now()}
			prepares := 0
			prepare := func(ctx context.Context) error {
				_, hasDeadline := ctx.Deadline()
				require.False(t, hasDeadline, "a migration is not bounded by the start-up wait")
				prepares++
				clock.t = clock.t.Add(10 * time.Second)
				if prepares <= len(tt.errs) {
					return tt.errs[prepares-1]
				}
				return nil
			}
			connect := func(context.Context) error { return nil }
			w := databaseWait{maxWait: maxWait, firstRetry: firstRetry, now: clock.now, after: clock.after}
			err := w.prepare(context.Background(), connect, prepare, slog.New(slog.NewJSONHandler(logs, nil)))
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tt.wantPrepares, prepares)
			require.Equal(t, tt.wantLogs, logMessages(t, logs))
		})
	}
}

// A server that closes the connection without a word, as Postgres may while
// it shuts down, is one to wait for: pgx reports "failed to receive
// message: unexpected EOF".
func TestClosedConnectionIsTransient(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	err = connectTo("postgres://postgres@" + ln.Addr().String() + "/easel?sslmode=disable")(context.Background())
	require.Error(t, err)
	require.True(t, transient(err), "%v", err)
}

// logMessages returns the msg of each JSON log line, in order.
func logMessages(t *testing.T, logs *logtest.Buffer) []string {
	t.Helper()
	var msgs []string
	for _, record := range logs.Records(t) {
		msgs = append(msgs, record["msg"].(string))
	}
	return msgs
}
