package serve

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/logtest"
)

func TestWaitForDatabase(t *testing.T) {
	t.Parallel()
	shuttingDown := &pgconn.PgError{Code: "57P03", Message: "the database system is shutting down"}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	wrongPassword := &pgconn.PgError{Code: "28P01", Message: "password authentication failed"}
	missing := &pgconn.PgError{Code: "3D000", Message: `database "easel" does not exist`}

	tests := []struct {
		name      string
		errs      []error // what each connection attempt returns; then success
		wantErr   error
		wantCalls int
		wantLogs  []string
	}{
		{name: "up", wantCalls: 1},
		{name: "restarting, then up", errs: []error{shuttingDown, refused, refused}, wantCalls: 4,
			wantLogs: []string{"database unreachable; waiting for it", "database reachable; starting"}},
		{name: "missing: it is created next", errs: []error{missing}, wantCalls: 1},
		{name: "wrong password: no waiting", errs: []error{wrongPassword}, wantErr: wrongPassword, wantCalls: 1},
		{name: "never up", errs: []error{refused, refused, refused, refused, refused, refused, refused, refused}, wantErr: refused, wantCalls: 4,
			wantLogs: []string{"database unreachable; waiting for it"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logs := &logtest.Buffer{}
			calls := 0
			connect := func(context.Context) error {
				calls++
				if calls <= len(tt.errs) {
					return tt.errs[calls-1]
				}
				return nil
			}
			// Pauses of 1, 2, 4 ms: "never up" gives up rather than pause
			// 8 ms more, past its 10 ms.
			err := waitForDatabase(context.Background(), connect, slog.New(slog.NewJSONHandler(logs, nil)), 10*time.Millisecond, time.Millisecond)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tt.wantCalls, calls)
			var msgs []string
			for line := range strings.Lines(logs.String()) {
				var entry struct{ Msg string }
				require.NoError(t, json.Unmarshal([]byte(line), &entry))
				msgs = append(msgs, entry.Msg)
			}
			require.Equal(t, tt.wantLogs, msgs)
		})
	}
}
