package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/internal/logtest"
)

// TestServerError: serverError tells an unreachable database, as apierror
// classifies it, from any other failure.
func TestServerError(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		err        error
		wantStatus int
		wantRetry  string
		wantLevel  string
		wantText   string
	}{
		{"bug", errors.New("render page gallery: boom"), http.StatusInternalServerError, "", `"level":"ERROR"`,
			"Something went wrong; the server log has the details."},
		{"pool wait past the deadline", fmt.Errorf("get generation: %w", context.DeadlineExceeded),
			http.StatusServiceUnavailable, "5", `"level":"WARN"`, "Easel cannot reach its database"},
		{"the API's own answer", apierror.New(http.StatusServiceUnavailable, "database_unavailable", "down"),
			http.StatusServiceUnavailable, "5", `"level":"WARN"`, "Easel cannot reach its database"},
		{"another 503", apierror.New(http.StatusServiceUnavailable, "cancel_unavailable", "no"),
			http.StatusInternalServerError, "", `"level":"ERROR"`, "Something went wrong"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs logtest.Buffer
			h := New(nil, slog.New(slog.NewJSONHandler(&logs, nil)), nil)
			rec := httptest.NewRecorder()
			c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/", nil), rec)

			require.NoError(t, h.serverError(c, tt.err))
			require.Equal(t, tt.wantStatus, rec.Code)
			require.Equal(t, tt.wantRetry, rec.Header().Get("Retry-After"))
			require.Contains(t, rec.Body.String(), tt.wantText)
			require.Contains(t, logs.String(), tt.wantLevel)
		})
	}
}
