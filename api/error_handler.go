package api

import (
	"log/slog"

	"github.com/labstack/echo/v4"

	"github.com/easelhq/easel/internal/apierror"
)

// ErrorHandler renders every error of the routes Handler registers as
// README's {"error": {"code", "message", "details"}} body with its status:
// the handlers return their refusals as errors, so with Echo's default
// handler a service mounting Handler would answer each 4xx as a bare 500.
// Set it as the Echo's HTTPErrorHandler, as easel serve does. Errors it
// does not know become a 500 "internal" whose cause goes to logger only.
func ErrorHandler(logger *slog.Logger) echo.HTTPErrorHandler {
	return apierror.Handler(logger)
}
