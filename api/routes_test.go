package api_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/internal/dbtest"
)

// TestWrongMethod: a known path asked with a method it does not serve is
// 405 method_not_allowed with Allow, also behind Auth.RequireKey; OPTIONS is
// answered 204 with Allow, HEAD wherever GET is; an unknown path stays 404.
func TestWrongMethod(t *testing.T) {
	t.Parallel()

	withAuth := setup(t) // /v1 behind Auth.RequireKey, as easel serve mounts it
	plain := echo.New()  // /v1 without middleware
	plain.HTTPErrorHandler = apierror.Handler(slog.New(slog.DiscardHandler))
	api.NewHandler(dbtest.Pool(t), slog.New(slog.DiscardHandler)).Register(plain.Group("/v1"))

	id := uuid.NewString()
	tests := []struct {
		method, path string
		wantStatus   int
		wantAllow    string
	}{
		{http.MethodDelete, "/v1/generations/" + id, http.StatusMethodNotAllowed, "OPTIONS, GET, HEAD"},
		{http.MethodPut, "/v1/generations", http.StatusMethodNotAllowed, "OPTIONS, GET, HEAD, POST"},
		{http.MethodDelete, "/v1/generations", http.StatusMethodNotAllowed, "OPTIONS, GET, HEAD, POST"},
		{http.MethodGet, "/v1/generations/" + id + "/cancel", http.StatusMethodNotAllowed, "OPTIONS, POST"},
		{http.MethodHead, "/v1/generations/" + id + "/cancel", http.StatusMethodNotAllowed, "OPTIONS, POST"},
		{http.MethodPost, "/v1/generations/" + id, http.StatusMethodNotAllowed, "OPTIONS, GET, HEAD"},
		{"PURGE", "/v1/generations", http.StatusMethodNotAllowed, "OPTIONS, GET, HEAD, POST"},
		{http.MethodOptions, "/v1/generations", http.StatusNoContent, "OPTIONS, GET, HEAD, POST"},
		{http.MethodOptions, "/v1/generations/" + id + "/cancel", http.StatusNoContent, "OPTIONS, POST"},
		{http.MethodHead, "/v1/generations/" + id, http.StatusNotFound, ""},
		{http.MethodHead, "/v1/generations", http.StatusOK, ""},
		{http.MethodDelete, "/v1/generation", http.StatusNotFound, ""},
		{http.MethodGet, "/v1/generations/" + id + "/cancel/now", http.StatusNotFound, ""},
		{http.MethodDelete, "/v1/generations/", http.StatusNotFound, ""},
		{http.MethodGet, "/v1/nothing", http.StatusNotFound, ""},
	}
	for name, e := range map[string]*echo.Echo{"behind auth": withAuth.echo, "plain": plain} {
		for _, tt := range tests {
			resp := serveOn(e, tt.method, tt.path)
			require.Equal(t, tt.wantStatus, resp.status, "%s: %s %s: %s", name, tt.method, tt.path, resp.body)
			require.Equal(t, tt.wantAllow, resp.header.Get(echo.HeaderAllow), "%s: %s %s", name, tt.method, tt.path)
			switch {
			case tt.method == http.MethodHead:
				// net/http drops the body; the recorder keeps it.
			case tt.wantStatus == http.StatusMethodNotAllowed:
				require.Equal(t, "method_not_allowed", resp.errorBody(t).Code)
				// As openapi.yaml documents it on the path's operations.
				allowed := strings.Split(tt.wantAllow, ", ")[1]
				withAuth.checkResponse(t, withAuth.validationInput(t, allowed, tt.path, nil, nil), resp)
			case tt.wantStatus == http.StatusNotFound:
				require.Equal(t, "not_found", resp.errorBody(t).Code)
			}
		}
	}

	// Behind auth, a caller without a valid key learns what routing tells
	// and openapi.yaml, which is public, documents: Echo answers a request
	// no route takes before any route's middleware runs. A route itself
	// still wants the key.
	closed, err := setupWith(t, setupOpts{keys: []string{"billing"}})
	require.NoError(t, err)
	resp := serveOn(closed.echo, http.MethodDelete, "/v1/generations/"+id)
	require.Equal(t, http.StatusMethodNotAllowed, resp.status)
	require.Equal(t, "OPTIONS, GET, HEAD", resp.header.Get(echo.HeaderAllow))
	require.Equal(t, http.StatusNotFound, serveOn(closed.echo, http.MethodGet, "/v1/nothing").status)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		resp = serveOn(closed.echo, method, "/v1/generations/"+id)
		require.Equal(t, http.StatusUnauthorized, resp.status, method)
		require.Equal(t, "application/json", resp.header.Get(echo.HeaderContentType), method)
	}
}

func serveOn(e *echo.Echo, method, path string) response {
	b := &testBundle{echo: e}
	return b.serve(method, path, nil, nil)
}

// TestHeadLikeGet: HEAD answers what GET answers, headers included.
func TestHeadLikeGet(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.enqueue(t, jsonHeader(), falExampleInput, http.StatusAccepted)

	for _, path := range []string{
		"/v1/generations",
		"/v1/generations?limit=1",
		"/v1/generations/" + g.ID,
		"/v1/generations/" + uuid.NewString(),
		"/v1/generations?colour=red",
	} {
		get := b.serve(http.MethodGet, path, nil, nil)
		head := b.serve(http.MethodHead, path, nil, nil)
		require.Equal(t, get.status, head.status, path)
		require.Equal(t, get.header.Get(echo.HeaderContentType), head.header.Get(echo.HeaderContentType), path)
	}
}
