package serve

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
)

func TestRecoverPanics(t *testing.T) {
	t.Parallel()

	var logs bytes.Buffer
	e := echo.New()
	e.HTTPErrorHandler = api.ErrorHandler(slog.New(slog.NewJSONHandler(&logs, nil)))
	e.Use(recoverPanics)
	e.GET("/boom", func(echo.Context) error { panic("boom") })
	e.GET("/abort", func(echo.Context) error { panic(http.ErrAbortHandler) })

	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/boom", nil))
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
	require.Equal(t, "internal", body.Error.Code)

	// One JSON line, at ERROR, with the panic's value and where it happened.
	var line struct{ Level, Path, Error string }
	require.NoError(t, json.Unmarshal(logs.Bytes(), &line), logs.String())
	require.Equal(t, "ERROR", line.Level)
	require.Equal(t, "/boom", line.Path)
	require.Contains(t, line.Error, "handler panicked: boom")
	require.Contains(t, line.Error, "recover_panics_test.go")

	// net/http's deliberate abort still aborts the response.
	require.PanicsWithValue(t, http.ErrAbortHandler, func() {
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/abort", nil))
	})
}
