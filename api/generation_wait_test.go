package api_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/notify"
	"github.com/easelhq/easel/store"
)

// historyBundle is /v1 as one easel serve process assembles it, with the
// notify.Listener that wakes long-polls. Several on one database stand for
// several processes.
type historyBundle struct {
	ctx      context.Context
	pool     *pgxpool.Pool
	echo     *echo.Echo
	listener *notify.Listener
	stop     context.CancelFunc
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

	b := &historyBundle{ctx: context.Background(), pool: pool, echo: echo.New(), listener: listener, stop: stop,
		waiting: make(chan uuid.UUID, 100)}
	b.echo.HTTPErrorHandler = apierror.Handler(logger)
	h := api.NewHandler(pool, logger).WithListener(listener)
	api.OnWaiting(h, func(id uuid.UUID) { b.waiting <- id })
	h.Register(b.echo.Group("/v1"))
	return b
}

type historyResponse struct {
	status int
	header http.Header
	body   []byte
}

func (b *historyBundle) get(ctx context.Context, path string) historyResponse {
	rec := httptest.NewRecorder()
	b.echo.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, path, nil))
	return historyResponse{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// getAsync serves path in the background.
func (b *historyBundle) getAsync(ctx context.Context, path string) <-chan historyResponse {
	done := make(chan historyResponse, 1)
	go func() { done <- b.get(ctx, path) }()
	return done
}

func (r historyResponse) generation(t *testing.T) api.Generation {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var g api.Generation
	require.NoError(t, json.Unmarshal(r.body, &g))
	return g
}

// invalidFields returns the fields a 422 names.
func (r historyResponse) invalidFields(t *testing.T) []string {
	t.Helper()
	require.Equal(t, http.StatusUnprocessableEntity, r.status, string(r.body))
	var body struct{ Error apierror.Error }
	require.NoError(t, json.Unmarshal(r.body, &body))
	require.Equal(t, "invalid_request", body.Error.Code)
	fields := make([]string, len(body.Error.Details))
	for i, d := range body.Error.Details {
		fields[i] = d.Field
	}
	return fields
}

func (b *historyBundle) insert(t *testing.T) uuid.UUID {
	t.Helper()
	g, err := store.InsertGeneration(b.ctx, b.pool, store.InsertGenerationParams{
		ID: uuid.Must(uuid.NewV7()), Client: "alpha", EndpointID: "fal-ai/fooocus/image-prompt",
		Input: json.RawMessage(`{"prompt":"a cat"}`), Priority: 2,
	})
	require.NoError(t, err)
	return g.ID
}

func awaitResponse(t *testing.T, done <-chan historyResponse) historyResponse {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("long-poll did not answer")
		return historyResponse{}
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

	done := b.getAsync(b.ctx, "/v1/generations/"+id.String()+"?wait=60s")
	awaitWaiting(t, b, id)

	// Another process finishes it through its own connection.
	other, err := pgx.Connect(b.ctx, b.pool.Config().ConnString())
	require.NoError(t, err)
	defer other.Close(b.ctx)
	require.NoError(t, pgx.BeginFunc(b.ctx, other, func(tx pgx.Tx) error {
		_, err := store.Complete(b.ctx, tx, id, store.Completion{FalRequestID: "req-1",
			Images: []store.Image{{URL: "https://x/1.png", NSFW: true}}})
		return err
	}))

	resp := awaitResponse(t, done)
	g := resp.generation(t)
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

	for _, done := range []<-chan historyResponse{fromFirst, fromSecond} {
		resp := awaitResponse(t, done)
		g := resp.generation(t)
		require.Equal(t, store.StatusFailed, g.Status)
		require.Equal(t, &api.ErrorInfo{Code: "fal_validation", Message: "bad image"}, g.Error)
		require.Equal(t, "false", resp.header.Get(api.WaitTimedOutHeader))
	}
}

func TestGetGenerationWaitTimesOut(t *testing.T) {
	t.Parallel()
	b := setupHistory(t)
	id := b.insert(t)

	resp := b.get(b.ctx, "/v1/generations/"+id.String()+"?wait=20ms")
	require.Equal(t, store.StatusQueued, resp.generation(t).Status)
	require.Equal(t, "true", resp.header.Get(api.WaitTimedOutHeader))
}

func TestGetGenerationWaitAnswersTerminalAtOnce(t *testing.T) {
	t.Parallel()
	b := setupHistory(t)
	id := b.insert(t)
	_, err := store.Cancel(b.ctx, b.pool, id, "by client")
	require.NoError(t, err)

	resp := b.get(b.ctx, "/v1/generations/"+id.String()+"?wait=60s")
	require.Equal(t, store.StatusCancelled, resp.generation(t).Status)
	require.Equal(t, "false", resp.header.Get(api.WaitTimedOutHeader))
	require.Empty(t, b.waiting, "never waited")

	// Without wait nothing changes: no header either.
	resp = b.get(b.ctx, "/v1/generations/"+id.String())
	require.Equal(t, store.StatusCancelled, resp.generation(t).Status)
	require.Empty(t, resp.header.Values(api.WaitTimedOutHeader))

	resp = b.get(b.ctx, "/v1/generations/"+uuid.NewString()+"?wait=60s")
	require.Equal(t, http.StatusNotFound, resp.status)
}

func TestGetGenerationWaitEndsWhenListenerStops(t *testing.T) {
	t.Parallel()
	b := setupHistory(t)
	id := b.insert(t)

	done := b.getAsync(b.ctx, "/v1/generations/"+id.String()+"?wait=60s")
	awaitWaiting(t, b, id)
	b.stop() // the server shutting down

	resp := awaitResponse(t, done)
	require.Equal(t, store.StatusQueued, resp.generation(t).Status)
	require.Equal(t, "true", resp.header.Get(api.WaitTimedOutHeader))
}

func TestGetGenerationWaitEndsWhenClientLeaves(t *testing.T) {
	t.Parallel()
	b := setupHistory(t)
	id := b.insert(t)

	ctx, cancel := context.WithCancel(b.ctx)
	done := b.getAsync(ctx, "/v1/generations/"+id.String()+"?wait=60s")
	awaitWaiting(t, b, id)
	cancel()

	resp := awaitResponse(t, done)
	require.Equal(t, http.StatusServiceUnavailable, resp.status)
}

func TestGetGenerationWaitInvalid(t *testing.T) {
	t.Parallel()
	b := setupHistory(t)
	id := b.insert(t)

	for _, query := range []string{"wait=soon", "wait=30", "wait=-1s", "wait=", "wait=1s&wait=2s"} {
		t.Run(query, func(t *testing.T) {
			t.Parallel()
			resp := b.get(b.ctx, "/v1/generations/"+id.String()+"?"+query)
			require.Equal(t, []string{"wait"}, resp.invalidFields(t))
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
