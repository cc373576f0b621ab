package apierror_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/internal/clocktest"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/internal/logthrottle"
)

// connectError is what pgx returns when Postgres refuses connections.
func connectError(t *testing.T) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().(*net.TCPAddr)
	require.NoError(t, ln.Close())
	_, err = pgconn.Connect(context.Background(), fmt.Sprintf("postgres://postgres@127.0.0.1:%d/easel?sslmode=disable&connect_timeout=5", addr.Port))
	var connectErr *pgconn.ConnectError
	require.ErrorAs(t, err, &connectErr)
	return err
}

func TestHandler(t *testing.T) {
	t.Parallel()

	refused := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	for _, tt := range []struct {
		name           string
		err            error
		wantStatus     int
		wantCode       string
		wantRetryAfter string
		wantMessage    string
	}{
		{name: "api error", err: apierror.New(http.StatusConflict, "already_finished", "done"), wantStatus: http.StatusConflict, wantCode: "already_finished"},
		{name: "echo error", err: echo.ErrNotFound, wantStatus: http.StatusNotFound, wantCode: "not_found"},
		{name: "unexpected", err: errors.New("boom"), wantStatus: http.StatusInternalServerError, wantCode: "internal"},
		{name: "query error", err: fmt.Errorf("get: %w", &pgconn.PgError{Code: "23505"}), wantStatus: http.StatusInternalServerError, wantCode: "internal"},
		{
			name: "database refuses connections", err: fmt.Errorf("authenticate: %w", connectError(t)),
			wantStatus: http.StatusServiceUnavailable, wantCode: "database_unavailable", wantRetryAfter: "5",
			wantMessage: "the database is unreachable; retry later",
		},
		{
			name: "database shutting down", err: &pgconn.PgError{Code: "57P01"},
			wantStatus: http.StatusServiceUnavailable, wantCode: "database_unavailable", wantRetryAfter: "5",
			wantMessage: "the database is unreachable; retry later",
		},
		{
			name: "connection failure", err: &pgconn.PgError{Code: "08006"},
			wantStatus: http.StatusServiceUnavailable, wantCode: "database_unavailable", wantRetryAfter: "5",
		},
		{
			name: "too many connections", err: &pgconn.PgError{Code: "53300", Message: `too many connections for role "reports"`},
			wantStatus: http.StatusServiceUnavailable, wantCode: "database_unavailable", wantRetryAfter: "5",
			wantMessage: "Postgres refused a connection: too many clients (SQLSTATE 53300); retry later",
		},
		{
			name: "a server limit", err: fmt.Errorf("acquire: %w", &pgconn.PgError{Code: "53400"}),
			wantStatus: http.StatusServiceUnavailable, wantCode: "database_unavailable", wantRetryAfter: "5",
			wantMessage: "Postgres refused a connection: a server limit is reached (SQLSTATE 53400); retry later",
		},
		{
			name: "database starting up", err: &pgconn.PgError{Code: "57P03", Message: "the database system is starting up"},
			wantStatus: http.StatusServiceUnavailable, wantCode: "database_unavailable", wantRetryAfter: "5",
			wantMessage: "Postgres refused a connection: it does not accept connections now (starting up, shutting down, recovering) (SQLSTATE 57P03); retry later",
		},
		{
			name: "connection reset", err: fmt.Errorf("list: %w", refused),
			wantStatus: http.StatusServiceUnavailable, wantCode: "database_unavailable", wantRetryAfter: "5",
		},
		{
			name: "no connection before the deadline", err: fmt.Errorf("acquire: %w", context.DeadlineExceeded),
			wantStatus: http.StatusServiceUnavailable, wantCode: "database_unavailable", wantRetryAfter: "5",
		},
		{
			// Another service over HTTP, not the database.
			name: "http call failed", err: &url.Error{Op: "Put", URL: "https://queue.fal.run/x", Err: refused},
			wantStatus: http.StatusInternalServerError, wantCode: "internal",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := echo.New()
			rec := httptest.NewRecorder()
			c := e.NewContext(httptest.NewRequest(http.MethodGet, "/v1/generations", nil), rec)

			apierror.Handler(slog.New(slog.DiscardHandler))(tt.err, c)

			require.Equal(t, tt.wantStatus, rec.Code)
			require.Equal(t, tt.wantRetryAfter, rec.Header().Get("Retry-After"))
			var body struct {
				Error struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
			require.Equal(t, tt.wantCode, body.Error.Code)
			require.NotEmpty(t, body.Error.Message)
			if tt.wantMessage != "" {
				require.Equal(t, tt.wantMessage, body.Error.Message)
			}
			require.NotContains(t, rec.Body.String(), "postgres", "database details stay in the log")
			require.NotContains(t, rec.Body.String(), "reports", "database details stay in the log")
		})
	}
}

// DatabaseUnavailable agrees with Handler, for pages that answer in their
// own format.
func TestDatabaseUnavailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		wantOK bool
	}{
		{name: "connection refused", err: fmt.Errorf("list: %w", connectError(t)), wantOK: true},
		{name: "the API's own answer", err: apierror.New(http.StatusServiceUnavailable, "database_unavailable", "down"), wantOK: true},
		{name: "another API error", err: apierror.New(http.StatusNotFound, "not_found", "no such thing")},
		{name: "an Echo error", err: echo.ErrNotFound},
		{name: "a bug", err: errors.New("nil map")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			retryAfter, ok := apierror.DatabaseUnavailable(tt.err)
			require.Equal(t, tt.wantOK, ok)

			rec := httptest.NewRecorder()
			e := echo.New()
			apierror.Handler(slog.New(slog.DiscardHandler))(tt.err, e.NewContext(httptest.NewRequest(http.MethodGet, "/", nil), rec))
			require.Equal(t, tt.wantOK, rec.Code == http.StatusServiceUnavailable, "as Handler answers")
			require.Equal(t, rec.Header().Get("Retry-After"), retryAfter)
		})
	}
}

// A client that hangs up cancels its request's context, and the handler's
// error with it: not Easel's failure, so a DEBUG line and status 499,
// nginx's "client closed request", with no code counted as an error; a
// cancellation of Easel's own, the request still on, stays a 500.
func TestHandlerClientGone(t *testing.T) {
	t.Parallel()

	// pgx's error for a connection the cancelled request was waiting on.
	gone, hangUp := context.WithCancel(context.Background())
	hangUp()
	_, connErr := pgconn.Connect(gone, "postgres://postgres@127.0.0.1:1/easel?sslmode=disable")
	require.ErrorIs(t, connErr, context.Canceled)

	for _, tt := range []struct {
		name         string
		err          error
		clientHungUp bool
		wantStatus   int
		wantLevel    string
		wantCode     string
	}{
		{name: "client hung up", err: fmt.Errorf("list: %w", context.Canceled), clientHungUp: true, wantStatus: 499, wantLevel: "DEBUG"},
		{name: "client hung up while connecting", err: fmt.Errorf("acquire: %w", connErr), clientHungUp: true, wantStatus: 499, wantLevel: "DEBUG"},
		{name: "cancelled by Easel", err: fmt.Errorf("list: %w", context.Canceled), wantStatus: http.StatusInternalServerError, wantLevel: "ERROR", wantCode: "internal"},
		{name: "client hung up, another error", err: errors.New("boom"), clientHungUp: true, wantStatus: http.StatusInternalServerError, wantLevel: "ERROR", wantCode: "internal"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/v1/generations", nil)
			rec := httptest.NewRecorder()
			e := echo.New()
			var logs bytes.Buffer
			e.HTTPErrorHandler = apierror.Handler(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
			var c echo.Context
			e.GET("/v1/generations", func(ec echo.Context) error {
				c = ec
				if tt.clientHungUp {
					cancel()
				}
				return tt.err
			})

			e.ServeHTTP(rec, req)

			require.Equal(t, tt.wantStatus, rec.Code)
			var line map[string]any
			require.NoError(t, json.Unmarshal(logs.Bytes(), &line), logs.String())
			require.Equal(t, tt.wantLevel, line["level"])
			require.Equal(t, tt.err.Error(), line["error"])
			code, ok := apierror.WrittenCode(c)
			require.Equal(t, tt.wantCode != "", ok)
			require.Equal(t, tt.wantCode, code)
			if tt.wantCode == "" {
				require.Empty(t, rec.Body.String(), "no body: nobody reads it")
			}
		})
	}
}

// While the database is down every request is refused, and each refusal
// reaches the handler: the first of each reason is a WARN at once, then
// one a minute, counting the refusals since the last (repeated, from
// since); those in between are DEBUG.
func TestHandlerThrottlesDatabaseUnavailableLines(t *testing.T) {
	t.Parallel()
	clock := clocktest.New()
	start := clock.Now()
	logs := &logtest.Buffer{}
	handle := apierror.Handler(slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		logthrottle.WithClock(clock.Now))
	refuse := func(err error) {
		t.Helper()
		rec := httptest.NewRecorder()
		handle(err, echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/v1/generations", nil), rec))
		require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	}
	const msg = "request failed: database unavailable"
	warnings := func() []map[string]any {
		var warn []map[string]any
		for _, line := range logs.Lines(t, msg) {
			if line["level"] == "WARN" {
				warn = append(warn, line)
			}
		}
		return warn
	}

	unreachable := fmt.Errorf("list: %w", connectError(t))
	const refusals = 94 // a drill's 30 s outage
	for range refusals {
		refuse(unreachable)
		clock.Advance(300 * time.Millisecond)
	}
	require.Len(t, logs.Lines(t, msg), refusals, "every refusal has a line")
	require.Len(t, warnings(), 1, "one WARN, at the first")
	require.NotContains(t, warnings()[0], "repeated")
	require.Equal(t, unreachable.Error(), warnings()[0]["error"])

	// Another reason is another kind of refusal, logged at once.
	refuse(&pgconn.PgError{Code: "53300"})
	require.Len(t, warnings(), 2)

	clock.Advance(start.Add(time.Minute).Sub(clock.Now()))
	refuse(unreachable)
	warn := warnings()
	require.Len(t, warn, 3)
	last := warn[2]
	require.EqualValues(t, refusals, last["repeated"], "the 93 refusals since the first line, and this one")
	since, err := time.Parse(time.RFC3339Nano, last["since"].(string))
	require.NoError(t, err)
	require.True(t, start.Add(300*time.Millisecond).Equal(since), "since the first refusal not logged: %s", since)

	refuse(unreachable)
	require.Len(t, warnings(), 3, "then quiet for another minute")
}
