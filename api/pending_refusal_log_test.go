package api_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/internal/clocktest"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/logtest"
)

// refusalBundle is /v1 with a pending cap, its client named by the
// X-Client header, its log captured and its clock moved by hand.
type refusalBundle struct {
	echo    *echo.Echo
	handler *api.Handler
	logs    *logtest.Buffer
	clock   *clocktest.Clock
}

func setupRefusals(t *testing.T, maxPending int) *refusalBundle {
	t.Helper()
	logs := &logtest.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	clock := clocktest.New()
	e := echo.New()
	e.HTTPErrorHandler = api.ErrorHandler(logger)
	h := api.NewHandler(dbtest.Pool(t), logger).WithMaxPending(maxPending)
	api.SetPendingClock(h, clock.Now)
	h.Register(e.Group("/v1"), func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := api.SetClientName(c, c.Request().Header.Get("X-Client")); err != nil {
				return err
			}
			return next(c)
		}
	})
	return &refusalBundle{echo: e, handler: h, logs: logs, clock: clock}
}

// enqueue posts n enqueues as client and returns how many were answered
// 202 and how many 429 too_many_pending.
func (b *refusalBundle) enqueue(t *testing.T, client string, n int) (accepted, refused int) {
	t.Helper()
	for range n {
		req := httptest.NewRequest(http.MethodPost, "/v1/generations", strings.NewReader(falExampleInput))
		req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		req.Header.Set("X-Client", client)
		rec := httptest.NewRecorder()
		b.echo.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusAccepted:
			accepted++
		case http.StatusTooManyRequests:
			require.Contains(t, rec.Body.String(), `"too_many_pending"`)
			refused++
		default:
			t.Fatalf("enqueue as %s: %d %s", client, rec.Code, rec.Body.String())
		}
	}
	return accepted, refused
}

// refusalLine is one WARN about a client's refused enqueues.
type refusalLine struct {
	Level      string    `json:"level"`
	Msg        string    `json:"msg"`
	Client     string    `json:"client"`
	Refused    int       `json:"refused"`
	Since      time.Time `json:"since"`
	MaxPending int       `json:"max_pending"`
}

// refusalLines returns the log's lines about refused enqueues, by client.
func (b *refusalBundle) refusalLines(t *testing.T) map[string][]refusalLine {
	t.Helper()
	lines := map[string][]refusalLine{}
	for _, l := range logtest.Decode[refusalLine](t, b.logs) {
		if strings.HasPrefix(l.Msg, "enqueues refused") {
			require.Equal(t, "WARN", l.Level)
			require.Contains(t, l.Msg, "EASEL_CLIENT_MAX_PENDING")
			lines[l.Client] = append(lines[l.Client], l)
		}
	}
	return lines
}

// A flooding client gets one WARN, naming it, its cap and the setting, at
// its first refusal, then at most one a minute, each counting the
// refusals since the client's previous one; another client gets its own.
func TestTooManyPendingLoggedOncePerMinutePerClient(t *testing.T) {
	t.Parallel()
	const maxPending = 3
	b := setupRefusals(t, maxPending)
	start := b.clock.Now()

	accepted, refused := b.enqueue(t, "alice", 8)
	require.Equal(t, 3, accepted)
	require.Equal(t, 5, refused)
	accepted, refused = b.enqueue(t, "bob", 5)
	require.Equal(t, 3, accepted)
	require.Equal(t, 2, refused)
	first := refusalLine{Level: "WARN", Msg: "enqueues refused: client at EASEL_CLIENT_MAX_PENDING", Refused: 1, Since: start, MaxPending: maxPending}
	wantAlice, wantBob := first, first
	wantAlice.Client, wantBob.Client = "alice", "bob"
	require.Equal(t, map[string][]refusalLine{"alice": {wantAlice}, "bob": {wantBob}}, b.refusalLines(t),
		"one line per client for a burst within a minute")

	// Just short of a minute, alice's refusals are still only counted.
	b.clock.Advance(api.RefusalLogEvery - time.Millisecond)
	_, refused = b.enqueue(t, "alice", 1)
	require.Equal(t, 1, refused)
	require.Len(t, b.refusalLines(t)["alice"], 1)

	// A minute after its line, alice's next refusal reports the 6 since
	// (4 in the burst, 1 just before, itself), from the first of them.
	b.clock.Advance(time.Millisecond)
	_, refused = b.enqueue(t, "alice", 1)
	require.Equal(t, 1, refused)
	next := wantAlice
	next.Refused = 6
	require.Equal(t, []refusalLine{wantAlice, next}, b.refusalLines(t)["alice"])
	require.Len(t, b.refusalLines(t)["bob"], 1, "bob's own refusals are counted apart")

	// Clients no longer refused are forgotten; one refused anew starts
	// again with a line at once.
	b.clock.Advance(api.RefusalLogForget)
	_, refused = b.enqueue(t, "alice", 1)
	require.Equal(t, 1, refused)
	_, refused = b.enqueue(t, "bob", 1)
	require.Equal(t, 1, refused)
	bobLines := b.refusalLines(t)["bob"]
	require.Len(t, bobLines, 2)
	// Remembered, bob would report his burst's unlogged refusal too, since
	// then: alice's refusal forgot him.
	require.Equal(t, 1, bobLines[1].Refused)
	require.Equal(t, b.clock.Now(), bobLines[1].Since)
}
