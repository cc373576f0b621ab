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

	"github.com/easelhq/easel/internal/dbwait"
	"github.com/easelhq/easel/internal/logtest"
)

// fakeClock is a dbwait.Wait's clock that moves only when the wait pauses
// or a step says how long it took.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func (c *fakeClock) after(d time.Duration) <-chan time.Time {
	c.t = c.t.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.t
	return ch
}

// Postgres restarting after the start-up wait found it, while the schema is
// read or migrated, sends the start back to waiting, within the same
// deadline; other failures end it at once. Nothing is prepared without a
// database.
func TestPrepareDatabase(t *testing.T) {
	t.Parallel()
	terminated := &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}
	dirty := errors.New("migrate up: schema version 19 is dirty")
	closed := fmt.Errorf("migrate up: connect to database %q: failed to receive message: %w", "easel", io.ErrUnexpectedEOF)
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}

	const maxWait, firstRetry = 30 * time.Second, 100 * time.Millisecond
	tests := []struct {
		name string
		// connectErr is what every connection attempt returns.
		connectErr error
		// errs is what each prepare returns, each after 10 s on the clock;
		// then success.
		errs         []error
		wantErr      []error
		wantPrepares int
		wantLogs     []string
	}{
		{name: "prepared", wantPrepares: 1},
		{name: "restarted while migrating, then prepared", errs: []error{terminated}, wantPrepares: 2,
			wantLogs: []string{"database went away while being prepared; waiting for it again"}},
		// As make chaos saw, from a worker restarted while Postgres
		// restarted (dbwait's TestClosedConnectionIsTransient makes a real
		// one).
		{name: "connection closed while migrating, then prepared", errs: []error{closed}, wantPrepares: 2,
			wantLogs: []string{"database went away while being prepared; waiting for it again"}},
		{name: "migration left dirty: no waiting", errs: []error{dirty}, wantErr: []error{dirty}, wantPrepares: 1},
		// At 0, 10 and 20 s; the third ends at the deadline.
		{name: "restarting for longer than the wait", errs: []error{terminated, terminated, terminated, terminated}, wantErr: []error{terminated}, wantPrepares: 3,
			wantLogs: []string{
				"database went away while being prepared; waiting for it again",
				"database went away while being prepared; waiting for it again",
			}},
		{name: "unreachable for longer than the wait: nothing prepared", connectErr: refused, wantErr: []error{dbwait.ErrGaveUp, refused},
			wantLogs: []string{"database unreachable; waiting for it"}},
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
			connect := func(context.Context) error { return tt.connectErr }
			w := dbwait.Wait{Max: maxWait, FirstRetry: firstRetry, Now: clock.now, After: clock.after}
			err := prepareDatabase(context.Background(), w, connect, prepare, slog.New(slog.NewJSONHandler(logs, nil)))
			if tt.wantErr != nil {
				for _, want := range tt.wantErr {
					require.ErrorIs(t, err, want)
				}
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tt.wantPrepares, prepares)
			require.Equal(t, tt.wantLogs, logMessages(t, logs))
		})
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
