package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/internal/dbtest"
)

// pikachuURL is the reference image of fal's examples.
const pikachuURL = "https://storage.googleapis.com/falserverless/model_tests/fooocus/Pikachu.webp"

// falExampleInput is the input of fal's own example request.
const falExampleInput = `{"image_prompt_1":{"weight":1,"stop_at":1,"type":"PyraCanny","image_url":"` + pikachuURL + `"}}`

type testBundle struct {
	ctx    context.Context
	pool   *pgxpool.Pool
	echo   *echo.Echo
	doc    *openapi3.T
	router routers.Router
}

type setupOpts struct {
	// listenAddr is what Auth is told Easel listens on; loopback by default.
	listenAddr net.Addr
	// billed tells Auth that generations may be billed (FAL_KEY set), so
	// the API is never open; by default they go to the simulator.
	billed bool
	// keys are created before Auth starts, so the API starts closed.
	keys []string
	// maxPending is the handler's EASEL_CLIENT_MAX_PENDING; 0 means no cap.
	maxPending int
	// now, when set, is the clock of the pending cap's cache and of Auth
	// (its key cache and its touch of last_used_at).
	now func() time.Time
	// keyCacheTTL is Auth's KeyCacheTTL; 0 looks every key up.
	keyCacheTTL time.Duration
}

// setup assembles /v1 and /openapi.yaml as easel serve does, on a database
// of the test's own.
func setup(t testing.TB) *testBundle {
	t.Helper()
	b, err := setupWith(t, setupOpts{})
	require.NoError(t, err)
	return b
}

func setupWith(t testing.TB, opts setupOpts) (*testBundle, error) {
	t.Helper()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	for _, name := range opts.keys {
		_, _, err := api.CreateKey(ctx, pool, name)
		require.NoError(t, err)
	}
	if opts.listenAddr == nil {
		opts.listenAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	}
	logger := slog.New(slog.DiscardHandler)
	auth, err := api.NewAuth(ctx, pool, api.AuthConfig{ListenAddr: opts.listenAddr, Simulated: !opts.billed, Logger: logger,
		KeyCacheTTL: opts.keyCacheTTL})
	if err != nil {
		return nil, err
	}
	if opts.now != nil {
		api.SetAuthClock(auth, opts.now)
	}

	e := echo.New()
	e.HTTPErrorHandler = apierror.Handler(logger)
	e.GET("/openapi.yaml", api.ServeOpenAPI)
	h := api.NewHandler(pool, logger).WithMaxPending(opts.maxPending)
	if opts.now != nil {
		api.SetPendingClock(h, opts.now)
	}
	h.Register(e.Group("/v1"), auth.RequireKey)

	b := &testBundle{ctx: ctx, pool: pool, echo: e}
	b.loadOpenAPI(t)
	return b, nil
}

// loadOpenAPI fetches the document b.echo serves, as a client would, and
// routes requests by it.
func (b *testBundle) loadOpenAPI(t testing.TB) {
	t.Helper()
	b.doc = loadOpenAPI(t, b)
	var err error
	b.router, err = legacy.NewRouter(b.doc)
	require.NoError(t, err)
}

// loadOpenAPI fetches the served document, as a client would.
func loadOpenAPI(t testing.TB, b *testBundle) *openapi3.T {
	t.Helper()
	rec := httptest.NewRecorder()
	b.echo.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.yaml", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "application/yaml", rec.Header().Get(echo.HeaderContentType))
	doc, err := openapi3.NewLoader().LoadFromData(rec.Body.Bytes())
	require.NoError(t, err)
	return doc
}

// response is one answer of the API.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) errorBody(t testing.TB) apiError {
	t.Helper()
	var body struct {
		Error apiError `json:"error"`
	}
	require.NoError(t, json.Unmarshal(r.body, &body), string(r.body))
	return body.Error
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"details"`
}

func (e apiError) fields() []string {
	fields := make([]string, len(e.Details))
	for i, d := range e.Details {
		fields[i] = d.Field
	}
	return fields
}

type generation struct {
	ID       string          `json:"id"`
	Client   string          `json:"client"`
	Status   string          `json:"status"`
	Input    json.RawMessage `json:"input"`
	Priority int             `json:"priority"`
	Metadata json.RawMessage `json:"metadata"`
	RunAt    *string         `json:"run_at"`
	Seed     json.RawMessage `json:"seed"`
}

// do serves one request and checks the answer against the OpenAPI document:
// every response must be documented (status included), and a request the
// server accepted must be one the document allows.
func (b *testBundle) do(t testing.TB, method, path string, header http.Header, body []byte) response {
	t.Helper()
	resp := b.serve(method, path, header, body)
	b.checkOpenAPI(t, method, path, header, body, resp)
	return resp
}

// serve serves one request without checking anything; it is safe to call
// from any goroutine.
func (b *testBundle) serve(method, path string, header http.Header, body []byte) response {
	rec := httptest.NewRecorder()
	b.echo.ServeHTTP(rec, newRequest(method, path, header, body))
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// testHost is the Host of newRequest's requests: the loopback address
// Auth is told Easel listens on, as a client there addresses it.
const testHost = "127.0.0.1:8080"

func newRequest(method, path string, header http.Header, body []byte) *http.Request {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Host = testHost
	for k, v := range header {
		req.Header[k] = v
	}
	return req
}

func (b *testBundle) checkOpenAPI(t testing.TB, method, path string, header http.Header, body []byte, resp response) {
	t.Helper()
	input := b.validationInput(t, method, path, header, body)
	if resp.status < 300 {
		require.NoError(t, openapi3filter.ValidateRequest(b.ctx, input), "accepted request does not match openapi.yaml")
	}
	b.checkResponse(t, input, resp)
}

// checkResponse requires resp to be documented, status included.
func (b *testBundle) checkResponse(t testing.TB, input *openapi3filter.RequestValidationInput, resp response) {
	t.Helper()
	err := openapi3filter.ValidateResponse(b.ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: input,
		Status:                 resp.status,
		Header:                 resp.header,
		Body:                   io.NopCloser(bytes.NewReader(resp.body)),
		Options:                input.Options,
	})
	require.NoError(t, err, "response %d %s does not match openapi.yaml", resp.status, resp.body)
}

func (b *testBundle) validationInput(t testing.TB, method, path string, header http.Header, body []byte) *openapi3filter.RequestValidationInput {
	t.Helper()
	req := newRequest(method, path, header, body)
	route, pathParams, err := b.router.FindRoute(req)
	require.NoError(t, err, "%s %s is not in openapi.yaml", method, path)
	return &openapi3filter.RequestValidationInput{
		Request: req, PathParams: pathParams, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true},
	}
}

func jsonHeader(kv ...string) http.Header {
	h := http.Header{echo.HeaderContentType: {echo.MIMEApplicationJSON}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// enqueue posts body and requires wantStatus.
func (b *testBundle) enqueue(t testing.TB, header http.Header, body string, wantStatus int) generation {
	t.Helper()
	resp := b.do(t, http.MethodPost, "/v1/generations", header, []byte(body))
	require.Equal(t, wantStatus, resp.status, string(resp.body))
	var g generation
	require.NoError(t, json.Unmarshal(resp.body, &g))
	require.Equal(t, "/v1/generations/"+g.ID, resp.header.Get(echo.HeaderLocation))
	return g
}

// counts returns how many generations rows and River jobs exist.
func (b *testBundle) counts(t testing.TB) (generations, jobs int) {
	t.Helper()
	require.NoError(t, b.pool.QueryRow(b.ctx,
		`SELECT (SELECT count(*) FROM generations), (SELECT count(*) FROM river_job)`).Scan(&generations, &jobs))
	return generations, jobs
}

func bearer(key string) string { return "Bearer " + key }

func withImagePrompt(fields string) string {
	if fields != "" {
		fields += ","
	}
	return `{` + fields + `"image_prompt_1":{"image_url":"` + pikachuURL + `"}}`
}

func repeat(s string, n int) string { return strings.Repeat(s, n) }
