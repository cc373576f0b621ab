package dbwait

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/logtest"
)

// fakeClock is a Wait's clock that moves only when the wait pauses or a
// connection attempt says how long it took.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func (c *fakeClock) after(d time.Duration) <-chan time.Time {
	c.t = c.t.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.t
	return ch
}

func TestWait(t *testing.T) {
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
		name      string
		reachable string        // the Wait's Reachable
		errs      []error       // what each connection attempt returns; then success
		attempt   time.Duration // how long each attempt takes, unless its context ends first
		wantErr   []error
		// wantCalls counts the attempts; wantWaited is how long the wait
		// took on its clock.
		wantCalls  int
		wantWaited time.Duration
		wantLogs   []string
	}{
		{name: "up", wantCalls: 1},
		{name: "restarting, then up", errs: []error{shuttingDown, refused, refused}, wantCalls: 4, wantWaited: 700 * time.Millisecond,
			wantLogs: []string{"database unreachable; waiting for it", "database reachable"}},
		{name: "restarting, then up, saying what comes next", reachable: "database reachable; starting", errs: []error{shuttingDown, refused, refused},
			wantCalls: 4, wantWaited: 700 * time.Millisecond, wantLogs: []string{"database unreachable; waiting for it", "database reachable; starting"}},
		{name: "missing: it is created next", errs: []error{missing}, wantCalls: 1},
		{name: "wrong password: no waiting", errs: []error{wrongPassword}, wantErr: []error{wrongPassword}, wantCalls: 1},
		// Attempts at 0, 0.1, 0.3, 0.7, 1.5, 3.1 s, then every 2 s to
		// 29.1 s, when a pause of 2 s would pass the deadline.
		{name: "refusing", errs: never(refused), wantErr: []error{ErrGaveUp, refused}, wantCalls: 19, wantWaited: 29100 * time.Millisecond,
			wantLogs: []string{"database unreachable; waiting for it"}},
		// Attempts of 5 s from 0, 5.1, 10.3, 15.7 and 21.5 s, then one from
		// 28.1 s that the deadline ends at 30 s. Counting only the pauses,
		// as the wait once did, this took 124 s.
		{name: "accepting, never answering", errs: never(noAnswer), attempt: 5 * time.Second, wantErr: []error{ErrGaveUp, context.DeadlineExceeded},
			wantCalls: 6, wantWaited: maxWait, wantLogs: []string{"database unreachable; waiting for it"}},
		// An attempt that would hang for an hour ends at 5 s, leaving time
		// for the others: the same attempts as above.
		{name: "accepting, hanging", errs: never(noAnswer), attempt: time.Hour, wantErr: []error{ErrGaveUp, context.DeadlineExceeded},
			wantCalls: 6, wantWaited: maxWait, wantLogs: []string{"database unreachable; waiting for it"}},
		{name: "answering at 28.1 s", errs: []error{noAnswer, noAnswer, noAnswer, noAnswer, noAnswer}, attempt: 5 * time.Second, wantCalls: 6,
			wantWaited: 28100 * time.Millisecond, wantLogs: []string{"database unreachable; waiting for it", "database reachable"}},
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
			w := Wait{Max: maxWait, FirstRetry: firstRetry, Reachable: tt.reachable, Now: clock.now, After: clock.after}
			err := w.For(context.Background(), connect, slog.New(slog.NewJSONHandler(logs, nil)))
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
func TestWaitEndsAtItsDeadline(t *testing.T) {
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
	cfg, err := pgx.ParseConfig("postgres://postgres@" + ln.Addr().String() + "/easel?sslmode=disable")
	require.NoError(t, err)
	w := Wait{Max: 200 * time.Millisecond, FirstRetry: 10 * time.Millisecond, attempt: time.Hour}
	err = w.For(ctx, Connect(cfg), slog.New(slog.DiscardHandler))
	require.ErrorIs(t, err, ErrGaveUp)
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

// logMessages returns the msg of each JSON log line, in order.
func logMessages(t *testing.T, logs *logtest.Buffer) []string {
	t.Helper()
	var msgs []string
	for _, record := range logs.Records(t) {
		msgs = append(msgs, record["msg"].(string))
	}
	return msgs
}
