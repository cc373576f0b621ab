package api_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/notify"
	"github.com/easelhq/easel/resource"
	"github.com/easelhq/easel/store"
)

// historyBundle is /v1 as one easel serve process assembles it, with the
// notify.Listener that wakes long-polls and the notify.Publisher its
// finishing paths announce with. Several on one database stand for several
// processes.
type historyBundle struct {
	*testBundle
	listener  *notify.Listener
	publisher *notify.Publisher
	stop      context.CancelFunc
	// waiting receives a generation's id each time a request starts
	// waiting for it.
	waiting chan uuid.UUID
}

func setupHistory(t *testing.T) *historyBundle {
	t.Helper()
	return setupHistoryOn(t, dbtest.URL(t))
}

// setupHistoryOn assembles a process of its own (pool, listener, handler)
// on the database at url.
func setupHistoryOn(t *testing.T, url string) *historyBundle {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	logger := slog.New(slog.DiscardHandler)
	ctx, stop := context.WithCancel(context.Background())
	listener := notify.NewListener(pool, store.GenerationFinishedChannel, logger)
	go listener.Run(ctx)
	t.Cleanup(func() {
		stop()
		<-listener.Done()
	})
	// Wait until it listens (its wake-up on connection, or the probe's
	// notification, both come after LISTEN), so that no reconnection
	// wake-up disturbs the tests.
	probe := listener.Subscribe("probe")
	defer probe.Close()
	_, err = pool.Exec(ctx, `SELECT pg_notify($1, 'probe')`, store.GenerationFinishedChannel)
	require.NoError(t, err)
	select {
	case <-probe.C:
	case <-time.After(30 * time.Second):
		t.Fatal("listener never listened")
	}

	b := &historyBundle{testBundle: &testBundle{ctx: context.Background(), pool: pool, echo: echo.New()},
		listener: listener, stop: stop, waiting: make(chan uuid.UUID, 100),
		publisher: notify.NewPublisher(pool, store.GenerationFinishedChannel, logger)}
	b.echo.HTTPErrorHandler = apierror.Handler(logger)
	b.echo.GET("/openapi.yaml", api.ServeOpenAPI)
	h := api.NewHandler(pool, logger).WithListener(listener)
	api.OnWaiting(h, func(id uuid.UUID) { b.waiting <- id })
	h.Register(b.echo.Group("/v1"))
	b.doc = loadOpenAPI(t, b.testBundle)
	b.router, err = legacy.NewRouter(b.doc)
	require.NoError(t, err)
	return b
}

// get serves GET path within ctx and checks the answer against openapi.yaml.
func (b *historyBundle) get(t *testing.T, ctx context.Context, path string) response {
	t.Helper()
	resp := <-b.getAsync(ctx, path)
	b.checkOpenAPI(t, http.MethodGet, path, nil, nil, resp)
	return resp
}

// getAsync serves GET path in the background, without checks.
func (b *historyBundle) getAsync(ctx context.Context, path string) <-chan response {
	done := make(chan response, 1)
	go func() {
		rec := httptest.NewRecorder()
		b.echo.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, path, nil))
		done <- response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	}()
	return done
}

func decodeGeneration(t *testing.T, r response) resource.Generation {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var g resource.Generation
	require.NoError(t, json.Unmarshal(r.body, &g))
	return g
}

// invalidFields returns the fields a 422 names.
func invalidFields(t *testing.T, r response) []string {
	t.Helper()
	require.Equal(t, http.StatusUnprocessableEntity, r.status, string(r.body))
	e := r.errorBody(t)
	require.Equal(t, "invalid_request", e.Code)
	return e.fields()
}

func (b *historyBundle) insert(t *testing.T) uuid.UUID {
	t.Helper()
	g, err := store.InsertGeneration(b.ctx, b.pool, store.InsertGenerationParams{
		ID: uuid.Must(uuid.NewV7()), Client: "alpha", EndpointID: "fal-ai/fooocus/image-prompt",
		Input: json.RawMessage(falDefaultedExample), Priority: 2,
	})
	require.NoError(t, err)
	return g.ID
}

// awaitResponse waits for a getAsync of path and checks the answer
// against openapi.yaml.
func (b *historyBundle) awaitResponse(t *testing.T, path string, done <-chan response) response {
	t.Helper()
	select {
	case r := <-done:
		b.checkOpenAPI(t, http.MethodGet, path, nil, nil, r)
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("long-poll did not answer")
		return response{}
	}
}

func awaitWaiting(t *testing.T, b *historyBundle, id uuid.UUID) {
	t.Helper()
	select {
	case got := <-b.waiting:
		require.Equal(t, id, got)
	case <-time.After(30 * time.Second):
		t.Fatal("request never started waiting")
	}
}

func TestGetGenerationWaitWokenFromAnotherConnection(t *testing.T) {
	t.Parallel()
	b := setupHistory(t)
	id := b.insert(t)

	path := "/v1/generations/" + id.String() + "?wait=60s"
	done := b.getAsync(b.ctx, path)
	awaitWaiting(t, b, id)

	// Another process finishes it through its own connection, then
	// announces it.
	other, err := pgx.Connect(b.ctx, b.pool.Config().ConnString())
	require.NoError(t, err)
	defer other.Close(b.ctx)
	require.NoError(t, pgx.BeginFunc(b.ctx, other, func(tx pgx.Tx) error {
		_, err := store.Complete(b.ctx, tx, id, store.Completion{FalRequestID: "req-1",
			Images: []store.Image{{URL: "https://x/1.png", NSFW: new(true)}}})
		return err
	}))
	b.publisher.Publish(id.String())

	resp := b.awaitResponse(t, path, done)
	g := decodeGeneration(t, resp)
	require.Equal(t, store.StatusCompleted, g.Status)
	require.Len(t, g.Images, 1)
	require.Equal(t, "false", resp.header.Get(api.WaitTimedOutHeader))
	require.Empty(t, b.waiting, "one wait, one wake-up")
}

func TestGetGenerationWaitAcrossProcesses(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	first, second := setupHistoryOn(t, url), setupHistoryOn(t, url)
	id := first.insert(t)

	path := "/v1/generations/" + id.String() + "?wait=60s"
	fromFirst, fromSecond := first.getAsync(first.ctx, path), second.getAsync(second.ctx, path)
	awaitWaiting(t, first, id)
	awaitWaiting(t, second, id)

	// The second process fails it; both processes' waiters wake.
	_, err := store.Fail(second.ctx, second.pool, id, "fal_validation", "bad image")
	require.NoError(t, err)
	second.publisher.Publish(id.String())

	for _, p := range []struct {
		b    *historyBundle
		done <-chan response
	}{{first, fromFirst}, {second, fromSecond}} {
		resp := p.b.awaitResponse(t, path, p.done)
		g := decodeGeneration(t, resp)
		require.Equal(t, store.StatusFailed, g.Status)
		require.Equal(t, &resource.ErrorInfo{Code: "fal_validation", Message: "bad image"}, g.Error)
		require.Equal(t, "false", resp.header.Get(api.WaitTimedOutHeader))
	}
}

// The process that finished the generation died before announcing it (or
// the announcement was lost): the request reads it again within
// waitRecheck rather than at the end of its wait.
func TestGetGenerationWaitRereadsWithoutAnnouncement(t *testing.T) {
	t.Parallel()
	b := setupHistory(t)
	id := b.insert(t)

	path := "/v1/generations/" + id.String() + "?wait=60s"
	done := b.getAsync(b.ctx, path)
	awaitWaiting(t, b, id)
	_, err := store.Cancel(b.ctx, b.pool, id, "by client") // and nothing published
	require.NoError(t, err)

	resp := b.awaitResponse(t, path, done) // within 30s, half the wait
	require.Equal(t, store.StatusCancelled, decodeGeneration(t, resp).Status)
	require.Equal(t, "false", resp.header.Get(api.WaitTimedOutHeader))
}

func TestGetGenerationWaitTimesOut(t *testing.T) {
	t.Parallel()
	b := setupHistory(t)
	id := b.insert(t)

	resp := b.get(t, b.ctx, "/v1/generations/"+id.String()+"?wait=20ms")
	require.Equal(t, store.StatusQueued, decodeGeneration(t, resp).Status)
	require.Equal(t, "true", resp.header.Get(api.WaitTimedOutHeader))
}

func TestGetGenerationWaitAnswersTerminalAtOnce(t *testing.T) {
	t.Parallel()
	b := setupHistory(t)
	id := b.insert(t)
	_, err := store.Cancel(b.ctx, b.pool, id, "by client")
	require.NoError(t, err)

	resp := b.get(t, b.ctx, "/v1/generations/"+id.String()+"?wait=60s")
	require.Equal(t, store.StatusCancelled, decodeGeneration(t, resp).Status)
	require.Equal(t, "false", resp.header.Get(api.WaitTimedOutHeader))
	require.Empty(t, b.waiting, "never waited")

	// Without wait nothing changes: no header either.
	resp = b.get(t, b.ctx, "/v1/generations/"+id.String())
	require.Equal(t, store.StatusCancelled, decodeGeneration(t, resp).Status)
	require.Empty(t, resp.header.Values(api.WaitTimedOutHeader))

	resp = b.get(t, b.ctx, "/v1/generations/"+uuid.NewString()+"?wait=60s")
	require.Equal(t, http.StatusNotFound, resp.status)
}

func TestGetGenerationWaitEndsWhenListenerStops(t *testing.T) {
	t.Parallel()
	b := setupHistory(t)
	id := b.insert(t)

	path := "/v1/generations/" + id.String() + "?wait=60s"
	done := b.getAsync(b.ctx, path)
	awaitWaiting(t, b, id)
	b.stop() // the server shutting down

	resp := b.awaitResponse(t, path, done)
	require.Equal(t, store.StatusQueued, decodeGeneration(t, resp).Status)
	require.Equal(t, "true", resp.header.Get(api.WaitTimedOutHeader))
}

func TestGetGenerationWaitEndsWhenClientLeaves(t *testing.T) {
	t.Parallel()
	b := setupHistory(t)
	id := b.insert(t)

	ctx, cancel := context.WithCancel(b.ctx)
	path := "/v1/generations/" + id.String() + "?wait=60s"
	done := b.getAsync(ctx, path)
	awaitWaiting(t, b, id)
	cancel()

	resp := b.awaitResponse(t, path, done)
	require.Equal(t, 499, resp.status, "a client hanging up is no 5xx of Easel's")
}

func TestGetGenerationWaitInvalid(t *testing.T) {
	t.Parallel()
	b := setupHistory(t)
	id := b.insert(t)

	for _, query := range []string{"wait=soon", "wait=30", "wait=-1s", "wait=", "wait=1s&wait=2s"} {
		t.Run(query, func(t *testing.T) {
			t.Parallel()
			resp := b.get(t, b.ctx, "/v1/generations/"+id.String()+"?"+query)
			require.Equal(t, []string{"wait"}, invalidFields(t, resp))
		})
	}
}

func TestParseWaitCaps(t *testing.T) {
	t.Parallel()

	tests := []struct {
		value string
		want  time.Duration
	}{
		{"0s", 0},
		{"1500ms", 1500 * time.Millisecond},
		{"30s", 30 * time.Second},
		{"60s", api.MaxWait},
		{"5m", api.MaxWait},
		{"876000h", api.MaxWait},
	}
	for _, tc := range tests {
		got, err := api.ParseWait([]string{tc.value})
		require.NoError(t, err, tc.value)
		require.Equal(t, tc.want, got, tc.value)
	}
}

// TestQueryMessagesStateTheRule: the messages of wait and limit say what is
// accepted, larger values being lowered rather than refused.
func TestQueryMessagesStateTheRule(t *testing.T) {
	t.Parallel()
	b := setupHistory(t)
	id := b.insert(t)

	tests := []struct {
		path, field, want string
	}{
		{"/v1/generations/" + id.String() + "?wait=abc", "wait", "must be a duration of zero or more such as 30s; longer waits are lowered to 1m0s"},
		{"/v1/generations/" + id.String() + "?wait=-1s", "wait", "must be a duration of zero or more such as 30s; longer waits are lowered to 1m0s"},
		{"/v1/generations/" + id.String() + "?wait=9999999999h", "wait", "is too long to read; waits longer than 1m0s are lowered to it, so ask for 1m0s"},
		{"/v1/generations?limit=0", "limit", "must be a positive integer; values above 200 are lowered to 200"},
		{"/v1/generations?limit=ten", "limit", "must be a positive integer; values above 200 are lowered to 200"},
		{"/v1/generations?limit=-99999999999999999999", "limit", "must be a positive integer; values above 200 are lowered to 200"},
		{"/v1/generations?limit=99999999999999999999", "limit", "is too large to read; values above 200 are lowered to it, so ask for 200"},
	}
	for _, tt := range tests {
		resp := b.get(t, b.ctx, tt.path)
		require.Equal(t, []string{tt.field}, invalidFields(t, resp), tt.path)
		require.Equal(t, tt.want, resp.errorBody(t).Details[0].Message, tt.path)
	}

	// What the messages promise; a terminal generation is answered at once.
	_, err := store.Fail(b.ctx, b.pool, id, "test", "finished")
	require.NoError(t, err)
	resp := b.get(t, b.ctx, "/v1/generations/"+id.String()+"?wait=90s&")
	require.Equal(t, http.StatusOK, resp.status, string(resp.body))
	require.Equal(t, http.StatusOK, b.get(t, b.ctx, "/v1/generations?limit=1000").status)
}
