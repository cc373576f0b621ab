package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/store"
	"github.com/easelhq/easel/web"
)

// bearerKey is the key the stand-in for the API's middleware accepts.
const bearerKey = "easel_test_bearer"

type testBundle struct {
	ctx    context.Context
	pool   *pgxpool.Pool
	url    string
	open   *atomic.Bool // whether the stand-in API middleware admits keyless requests
	client *http.Client // keeps cookies, never follows redirects
	logs   *logtest.Buffer
	// bodyRead counts the bytes of request bodies the server's handlers
	// have read.
	bodyRead *atomic.Int64
}

// countingBody counts what is read of a request body.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// setup serves the gallery on a test server. The API's auth middleware is
// replaced by a stand-in with the same contract: it admits a request while
// "open" or with the Bearer key, and answers 401 otherwise.
func setup(t *testing.T) *testBundle {
	t.Helper()
	return setupWithPublicURL(t, "")
}

// setupWithPublicURL is setup for a gallery told that Easel's public URL
// is publicURL (EASEL_PUBLIC_URL).
func setupWithPublicURL(t *testing.T, publicURL string) *testBundle {
	t.Helper()
	b := &testBundle{ctx: context.Background(), pool: dbtest.Pool(t), open: &atomic.Bool{}, logs: &logtest.Buffer{}, bodyRead: &atomic.Int64{}}
	b.open.Store(true)
	requireKey := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if b.open.Load() || c.Request().Header.Get(echo.HeaderAuthorization) == "Bearer "+bearerKey {
				return next(c)
			}
			return apierror.New(http.StatusUnauthorized, "unauthorized", "an API key is required")
		}
	}
	logger := slog.New(slog.NewJSONHandler(b.logs, nil))
	e := echo.New()
	e.HTTPErrorHandler = apierror.Handler(logger)
	gallery := web.New(b.pool, logger, requireKey).WithPublicURL(publicURL)
	gallery.Register(e)
	// Another page behind the gallery's sign-in, as River UI is.
	e.Any("/elsewhere/*", func(c echo.Context) error { return c.String(http.StatusOK, "elsewhere") }, gallery.RequireSession)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = countingBody{ReadCloser: r.Body, n: b.bodyRead}
		e.ServeHTTP(w, r)
	}))
	t.Cleanup(server.Close)
	b.url = server.URL

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	b.client = &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return b
}

type response struct {
	status int
	header http.Header
	body   string
}

func (b *testBundle) do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := b.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// page GETs path as a browser would.
func (b *testBundle) page(t *testing.T, path string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, b.url+path, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	return b.do(t, req)
}

func (b *testBundle) insert(t *testing.T, prompt string) *store.Generation {
	t.Helper()
	input, err := json.Marshal(map[string]any{"prompt": prompt, "num_images": 2,
		"image_prompt_1": map[string]any{"image_url": "https://example.com/in.png", "type": "PyraCanny", "weight": 1, "stop_at": 1}})
	require.NoError(t, err)
	g, err := store.InsertGeneration(b.ctx, b.pool, store.InsertGenerationParams{
		ID: uuid.Must(uuid.NewV7()), Client: "tests", EndpointID: "fal-ai/fooocus/image-prompt",
		Input: input, Priority: 2, Seed: "17454220438242315174",
	})
	require.NoError(t, err)
	return g
}

func (b *testBundle) complete(t *testing.T, id uuid.UUID, images ...store.Image) {
	t.Helper()
	inference := 1.25
	require.NoError(t, pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		changed, err := store.Complete(b.ctx, tx, id, store.Completion{FalRequestID: "req-" + id.String()[:8], Images: images,
			InferenceSeconds: &inference, Timings: json.RawMessage(`{"inference": 1.25}`)})
		if err != nil {
			return err
		}
		require.True(t, changed)
		return nil
	}))
}

// setCreatedAt moves a generation in time, so tests control the gallery's
// order.
func (b *testBundle) setCreatedAt(t *testing.T, id uuid.UUID, at time.Time) {
	t.Helper()
	_, err := b.pool.Exec(b.ctx, `UPDATE generations SET created_at = $2 WHERE id = $1`, id, at)
	require.NoError(t, err)
}

func (b *testBundle) createKey(t *testing.T, name, key string) *store.APIKey {
	t.Helper()
	sum := sha256.Sum256([]byte(key))
	k, err := store.InsertAPIKey(b.ctx, b.pool, name, sum[:], key[:8])
	require.NoError(t, err)
	return k
}

// count returns how often s occurs in body.
func count(body, s string) int { return strings.Count(body, s) }
