package api_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
)

// An *echo.HTTPError from one of the service's own routes, on the Echo
// that serves Handler, keeps its status through api.ErrorHandler, whatever
// its Message holds.
func TestErrorHandlerKeepsForeignHTTPErrors(t *testing.T) {
	t.Parallel()
	b := mount(t, mountOpts{teams: map[string]string{"token": "shop"}})
	for _, tt := range []struct {
		name        string
		err         error
		wantMessage string
	}{
		{name: "string message", err: echo.NewHTTPError(http.StatusConflict, "order locked"), wantMessage: "order locked"},
		{name: "map message", err: echo.NewHTTPError(http.StatusConflict, map[string]string{"order": "locked"}), wantMessage: "Conflict"},
		{name: "error message", err: echo.NewHTTPError(http.StatusConflict, errors.New("order locked")), wantMessage: "Conflict"},
		{name: "wrapped", err: fmt.Errorf("lock order 1: %w", echo.NewHTTPError(http.StatusConflict, "order locked")), wantMessage: "order locked"},
	} {
		path := "/orders/" + uuid.NewString()
		b.echo.GET(path, func(echo.Context) error { return tt.err })

		resp := b.do(t, http.MethodGet, path, "", nil, "")
		require.Equal(t, http.StatusConflict, resp.status, tt.name)
		got := resp.errorBody(t)
		require.Equal(t, "http_409", got.Code, tt.name)
		require.Equal(t, tt.wantMessage, got.Message, tt.name)
	}
}

// shopError is an error type of the service's own, answered in its own
// shape.
type shopError struct {
	Status int    `json:"-"`
	Reason string `json:"reason"`
}

func (e *shopError) Error() string { return e.Reason }

// The service's error handler answers its own errors and hands the rest
// to api.ErrorHandler, as its godoc shows.
func TestErrorHandlerCombined(t *testing.T) {
	t.Parallel()
	b := mount(t, mountOpts{teams: map[string]string{"token": "shop"}})
	easelErrors := api.ErrorHandler(slog.New(slog.NewTextHandler(b.logs, nil)))
	b.echo.HTTPErrorHandler = func(err error, c echo.Context) {
		var shopErr *shopError
		if errors.As(err, &shopErr) && !c.Response().Committed {
			_ = c.JSON(shopErr.Status, shopErr)
			return
		}
		easelErrors(err, c)
	}
	b.echo.GET("/orders/:id", func(echo.Context) error {
		return fmt.Errorf("load order: %w", &shopError{Status: http.StatusConflict, Reason: "order locked"})
	})
	b.echo.GET("/stock", func(echo.Context) error { return errors.New("stock service down") })

	resp := b.do(t, http.MethodGet, "/orders/1", "", nil, "")
	require.Equal(t, http.StatusConflict, resp.status)
	require.JSONEq(t, `{"reason": "order locked"}`, string(resp.body))

	for _, tt := range []struct {
		path, token string
		wantStatus  int
		wantCode    string
	}{
		{path: "/v1/generations/" + uuid.NewString(), token: "token", wantStatus: http.StatusNotFound, wantCode: "not_found"},
		{path: "/v1/generations?limit=x", token: "token", wantStatus: http.StatusUnprocessableEntity, wantCode: "invalid_request"},
		{path: "/v1/generations", wantStatus: http.StatusUnauthorized, wantCode: "unauthorized"},
		{path: "/stock", wantStatus: http.StatusInternalServerError, wantCode: "internal"},
	} {
		resp := b.do(t, http.MethodGet, tt.path, tt.token, nil, "")
		require.Equal(t, tt.wantStatus, resp.status, "%s: %s", tt.path, resp.body)
		require.Equal(t, tt.wantCode, resp.errorBody(t).Code, tt.path)
	}
	require.Contains(t, b.logs.String(), "stock service down", "an unknown error's cause is logged")
}
