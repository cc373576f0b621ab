package serve_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/buildinfo"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/internal/serve"
)

// gatedPostgres is a migrated test database behind a gate. Shut, the gate
// drops each connection as it accepts it, as a Postgres shutting down may,
// which easel serve's start-up waits out; open, it forwards each to the
// test server.
type gatedPostgres struct {
	ln     net.Listener
	target string
	opened atomic.Bool

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

// newGatedPostgres returns a shut gate and the DATABASE_URL that reaches
// the database through it.
func newGatedPostgres(t *testing.T) (*gatedPostgres, string) {
	t.Helper()
	u, err := url.Parse(dbtest.URL(t))
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	g := &gatedPostgres{ln: ln, target: u.Host}
	g.wg.Add(1)
	go g.accept()
	t.Cleanup(g.close)
	u.Host = ln.Addr().String()
	return g, u.String()
}

func (g *gatedPostgres) open() { g.opened.Store(true) }

func (g *gatedPostgres) accept() {
	defer g.wg.Done()
	for {
		conn, err := g.ln.Accept()
		if err != nil {
			return
		}
		if !g.opened.Load() {
			conn.Close()
			continue
		}
		server, err := net.Dial("tcp", g.target)
		if err != nil {
			conn.Close()
			continue
		}
		g.mu.Lock()
		g.conns = append(g.conns, conn, server)
		g.mu.Unlock()
		g.wg.Add(2)
		go g.pipe(server, conn)
		go g.pipe(conn, server)
	}
}

func (g *gatedPostgres) pipe(dst, src net.Conn) {
	defer g.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

func (g *gatedPostgres) close() {
	g.ln.Close()
	g.mu.Lock()
	for _, conn := range g.conns {
		conn.Close()
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// startingServe is an easel serve started on a gated database.
type startingServe struct {
	logs   *logtest.Buffer
	cancel context.CancelFunc
	ready  chan string
	// done is closed once Run returns, err what it returned.
	done chan struct{}
	err  error
	// base is the listener's URL, read from the line logged as it opens.
	base string
}

// startWaiting runs easel serve on databaseURL, which the test keeps
// unreachable, and returns once serve logs that it waits for it. The test
// ends by cancelling serve, unless it did, and waiting for Run to return.
func startWaiting(t *testing.T, databaseURL string) *startingServe {
	t.Helper()
	cfg := testConfig(t, databaseURL)
	s := &startingServe{logs: &logtest.Buffer{}, ready: make(chan string, 1), done: make(chan struct{})}
	waiting := &logWatcher{msg: "database unreachable; waiting for it", seen: make(chan struct{})}
	logger := slog.New(slog.NewJSONHandler(io.MultiWriter(s.logs, waiting), nil))
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		defer close(s.done)
		s.err = serve.Run(ctx, cfg, logger, func(addr string) { s.ready <- addr })
	}()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	select {
	case <-waiting.seen:
	case <-s.done:
		t.Fatalf("Run returned before waiting for the database: %v", s.err)
	}
	lines := s.logs.Lines(t, "easel starting: preparing the database")
	require.Len(t, lines, 1, "the listener opens before the database is waited for")
	require.Equal(t, "INFO", lines[0]["level"])
	addr, ok := lines[0]["addr"].(string)
	require.True(t, ok, "addr is %#v", lines[0]["addr"])
	s.base = "http://" + addr
	return s
}

// request sends method path to s, outside serve's context, and returns the
// response and its body.
func (s *startingServe) request(t *testing.T, method, path string, body []byte) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.base+path, bytes.NewReader(body))
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(out)
}

// While the database is waited for, the listener answers: /healthz, so that
// a liveness probe does not kill a process mid-migration; /readyz and every
// other path 503 starting. Once the database answers, the same listener
// serves every route, and only then is ready called and easel serving
// logged.
func TestServesProbesWhileStarting(t *testing.T) {
	t.Parallel()
	gate, databaseURL := newGatedPostgres(t)
	s := startWaiting(t, databaseURL)

	const starting = `{"error": {"code": "starting", "message": "easel serve is starting"}}`
	// Not parallel: each must run while the database is still waited for.
	for _, tt := range []struct {
		method, path   string
		body           []byte
		wantStatus     int
		wantBody       string
		wantRetryAfter string
	}{
		{method: http.MethodGet, path: "/healthz", wantStatus: http.StatusOK, wantBody: `{"status": "ok"}`},
		{method: http.MethodGet, path: "/readyz", wantStatus: http.StatusServiceUnavailable, wantBody: starting, wantRetryAfter: "5"},
		{method: http.MethodPost, path: "/v1/generations", body: []byte(exampleInput), wantStatus: http.StatusServiceUnavailable, wantBody: starting, wantRetryAfter: "5"},
		{method: http.MethodGet, path: "/", wantStatus: http.StatusServiceUnavailable, wantBody: starting, wantRetryAfter: "5"},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, body := s.request(t, tt.method, tt.path, tt.body)
			require.Equal(t, tt.wantStatus, resp.StatusCode, body)
			require.JSONEq(t, tt.wantBody, body)
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			require.Equal(t, tt.wantRetryAfter, resp.Header.Get("Retry-After"))
		})
	}
	select {
	case addr := <-s.ready:
		t.Fatalf("ready called at %s before the database answered", addr)
	default:
	}
	require.Empty(t, s.logs.Lines(t, "easel serving"))

	gate.open()
	select {
	case addr := <-s.ready:
		require.Equal(t, s.base, "http://"+addr, "the listener it answered on while starting")
	case <-s.done:
		t.Fatalf("Run returned before it was ready: %v", s.err)
	case <-time.After(30 * time.Second): // the start-up wait's own limit
		t.Fatal("never ready once the database answered")
	}
	resp, body := s.request(t, http.MethodGet, "/readyz", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.JSONEq(t, `{"status": "ready"}`, body)
	resp, body = s.request(t, http.MethodPost, "/v1/generations", []byte(exampleInput))
	require.Equal(t, http.StatusAccepted, resp.StatusCode, body)

	s.cancel()
	<-s.done
	require.NoError(t, s.err)

	serving := s.logs.Lines(t, "easel serving")
	require.Len(t, serving, 1)
	require.Equal(t, buildinfo.Read().Version, serving[0]["version"], "which build runs")
	msgs := logMessagesOf(t, s.logs)
	require.Less(t, slices.Index(msgs, "easel starting: preparing the database"), slices.Index(msgs, "database unreachable; waiting for it"))
	require.Less(t, slices.Index(msgs, "database reachable; starting"), slices.Index(msgs, "easel serving"))
}

// A signal during start-up, here while the database is waited for, is a
// shutdown, not a failure: Run returns nil, as after a shutdown, with one
// INFO line last, and the listener closes.
func TestSignalDuringStartUpStopsCleanly(t *testing.T) {
	t.Parallel()
	_, databaseURL := newGatedPostgres(t) // never opened
	s := startWaiting(t, databaseURL)

	s.cancel()
	select {
	case <-s.done:
		require.NoError(t, s.err)
	case <-time.After(20 * time.Second): // well below the 30 s start-up wait
		t.Fatal("Run did not return once cancelled during start-up")
	}

	records := s.logs.Records(t)
	last := records[len(records)-1]
	require.Equal(t, "INFO", last["level"])
	require.Equal(t, "easel serve stopped before it was ready", last["msg"])
	require.Contains(t, last["interrupted"], "connect to the database: context canceled")
	require.Len(t, s.logs.Lines(t, "easel serve stopped before it was ready"), 1)
	require.Empty(t, s.logs.Lines(t, "easel serve stopped"))
	for _, record := range records {
		require.NotEqual(t, "ERROR", record["level"], "%v", record)
	}
	select {
	case addr := <-s.ready:
		t.Fatalf("ready called at %s", addr)
	default:
	}
	_, err := http.Get(s.base + "/healthz")
	require.Error(t, err, "the listener closed")
}

// A start-up that fails for a reason of its own fails with it even when a
// signal came meanwhile: only what the signal cut short is a shutdown.
// cmd/easel exits 2 for a bad setting, 1 for a taken address.
func TestStartUpFailureOutlivesSignal(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = taken.Close() })
	for _, tt := range []struct {
		name      string
		configure func(*serve.Config)
		wantErr   string
	}{
		{name: "bad setting", configure: func(cfg *serve.Config) { cfg.Role = serve.RoleWorker }, wantErr: "EASEL_PUBLIC_URL: must be set with --role worker"},
		{name: "address taken", configure: func(cfg *serve.Config) { cfg.Addr = taken.Addr().String() }, wantErr: "listen on EASEL_ADDR"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, "postgres://postgres@127.0.0.1:1/unreachable?sslmode=disable")
			tt.configure(&cfg)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			var logs logtest.Buffer

			err := serve.Run(ctx, cfg, slog.New(slog.NewJSONHandler(&logs, nil)), nil)
			require.ErrorContains(t, err, tt.wantErr)
			require.Empty(t, logs.Lines(t, "easel serve stopped before it was ready"))
		})
	}
}
