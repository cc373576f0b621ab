package web

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/internal/clocktest"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/internal/logthrottle"
)

// While the database is down every gallery page fails alike: the first
// failure is a WARN at once, then one a minute counting the failures since
// the last (repeated, from since), the others DEBUG; the first page that
// the database answers again says so once, with how many failed and for
// how long.
func TestDatabaseUnavailableLoggedOnceAMinute(t *testing.T) {
	t.Parallel()
	clock := clocktest.New()
	pool, down := switchablePool(t)
	logs := &logtest.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := New(pool, logger, func(next echo.HandlerFunc) echo.HandlerFunc { return next }) // the API open
	h.databaseOutage = logthrottle.NewOutage(databaseLogEvery, clock.Now, logthrottle.WithClock(clock.Now))
	e := echo.New()
	e.HTTPErrorHandler = apierror.Handler(logger)
	h.Register(e)
	server := httptest.NewServer(e)
	t.Cleanup(server.Close)

	// view asks for the gallery a second after the previous view.
	view := func(wantStatus int) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, server.URL+"/", nil)
		require.NoError(t, err)
		req.Header.Set(echo.HeaderAccept, "text/html")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, wantStatus, resp.StatusCode)
		clock.Advance(time.Second)
	}
	const msg = "gallery request failed: database unavailable"
	warnings := func() []map[string]any {
		var warn []map[string]any
		for _, line := range logs.Lines(t, msg) {
			if line["level"] == "WARN" {
				warn = append(warn, line)
			}
		}
		return warn
	}

	view(http.StatusOK)
	down(true)
	firstFailure := clock.Now()
	const outage = 30 // a 30 s outage, a view a second
	for range outage {
		view(http.StatusServiceUnavailable)
	}
	require.Len(t, logs.Lines(t, msg), outage, "every failure has a line")
	warn := warnings()
	require.Len(t, warn, 1, "one WARN, at the first failure")
	require.Equal(t, "/", warn[0]["path"])
	require.Contains(t, warn[0]["error"], "connect")
	require.NotContains(t, warn[0], "repeated")

	clock.Advance(firstFailure.Add(databaseLogEvery).Sub(clock.Now()))
	view(http.StatusServiceUnavailable)
	warn = warnings()
	require.Len(t, warn, 2, "a minute after the first")
	require.EqualValues(t, outage, warn[1]["repeated"], "the 29 failures not logged, and this one")
	since, err := time.Parse(time.RFC3339Nano, warn[1]["since"].(string))
	require.NoError(t, err)
	require.True(t, firstFailure.Add(time.Second).Equal(since), "since the second failure: %s", since)
	require.Empty(t, logs.Lines(t, "database reachable again"))

	down(false)
	recovered := clock.Now()
	view(http.StatusOK)
	view(http.StatusOK)
	back := logs.Lines(t, "database reachable again")
	require.Len(t, back, 1, "once, at the first page that succeeds")
	require.Equal(t, "INFO", back[0]["level"])
	require.Equal(t, "gallery", back[0]["component"])
	require.EqualValues(t, outage+1, back[0]["failures"])
	require.Equal(t, recovered.Sub(firstFailure).String(), back[0]["down_for"])
	require.Len(t, warnings(), 2)
}

// switchablePool returns a pool on a database of the test's own whose
// connections are closed and new ones refused while down(true) holds, as
// when Postgres is stopped, until down(false) lets it connect again.
func switchablePool(t *testing.T) (*pgxpool.Pool, func(down bool)) {
	t.Helper()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refusing := closed.Addr().String()
	require.NoError(t, closed.Close())

	cfg, err := pgxpool.ParseConfig(dbtest.URL(t))
	require.NoError(t, err)
	cfg.MaxConns = 2
	var isDown atomic.Bool
	var dialer net.Dialer
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if isDown.Load() {
			addr = refusing
		}
		return dialer.DialContext(ctx, network, addr)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool, func(down bool) {
		isDown.Store(down)
		if down {
			pool.Reset()
		}
	}
}
