package apierror_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/apierror"
)

// WrittenCode is the code of the body Handler wrote, whatever the error
// was, and nothing when Handler wrote nothing or never ran.
func TestWrittenCode(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name string
		// committed answers the request before Handler sees the error.
		committed bool
		// err is what Handler is called with; nil: it is not called.
		err      error
		wantCode string
		wantOK   bool
	}{
		{name: "api error", err: apierror.New(http.StatusTooManyRequests, "too_many_pending", "full"), wantCode: "too_many_pending", wantOK: true},
		{name: "echo error with a code", err: echo.ErrUnauthorized, wantCode: "unauthorized", wantOK: true},
		{name: "echo error without one", err: echo.ErrForbidden, wantCode: "http_403", wantOK: true},
		{name: "unexpected", err: errors.New("boom"), wantCode: "internal", wantOK: true},
		{name: "answered already", committed: true, err: errors.New("broken pipe")},
		{name: "no error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/v1/generations", nil), rec)
			if tt.committed {
				require.NoError(t, c.NoContent(http.StatusOK))
			}

			if tt.err != nil {
				apierror.Handler(slog.New(slog.DiscardHandler))(tt.err, c)
			}

			code, ok := apierror.WrittenCode(c)
			require.Equal(t, tt.wantOK, ok)
			require.Equal(t, tt.wantCode, code)
			if ok {
				require.Contains(t, rec.Body.String(), `"code":"`+code+`"`)
			}
		})
	}
}
