package api_test

import (
	"log/slog"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/internal/dbtest"
)

// TestWrongMethod: a known path asked with a method it does not serve is
// 405 method_not_allowed with Allow, also behind the group middleware whose
// catch-all made it a 404; OPTIONS is answered 204 with Allow; an unknown
// path stays 404.
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
		{http.MethodDelete, "/v1/generations/" + id, http.StatusMethodNotAllowed, "OPTIONS, GET"},
		{http.MethodPut, "/v1/generations", http.StatusMethodNotAllowed, "OPTIONS, POST, GET"},
		{http.MethodDelete, "/v1/generations", http.StatusMethodNotAllowed, "OPTIONS, POST, GET"},
		{http.MethodGet, "/v1/generations/" + id + "/cancel", http.StatusMethodNotAllowed, "OPTIONS, POST"},
		{http.MethodPost, "/v1/generations/" + id, http.StatusMethodNotAllowed, "OPTIONS, GET"},
		{"PURGE", "/v1/generations", http.StatusMethodNotAllowed, "OPTIONS, POST, GET"},
		{http.MethodOptions, "/v1/generations", http.StatusNoContent, "OPTIONS, POST, GET"},
		{http.MethodOptions, "/v1/generations/" + id + "/cancel", http.StatusNoContent, "OPTIONS, POST"},
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
			switch tt.wantStatus {
			case http.StatusMethodNotAllowed:
				require.Equal(t, "method_not_allowed", resp.errorBody(t).Code)
			case http.StatusNotFound:
				require.Equal(t, "not_found", resp.errorBody(t).Code)
			}
		}
	}

	// Behind auth, a caller without a valid key learns nothing more.
	closed, err := setupWith(t, setupOpts{keys: []string{"billing"}})
	require.NoError(t, err)
	resp := serveOn(closed.echo, http.MethodDelete, "/v1/generations/"+id)
	require.Equal(t, http.StatusUnauthorized, resp.status)
}

func serveOn(e *echo.Echo, method, path string) response {
	b := &testBundle{echo: e}
	return b.serve(method, path, nil, nil)
}
