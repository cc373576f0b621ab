package api

import (
	"log/slog"

	"github.com/labstack/echo/v4"

	"github.com/easelhq/easel/internal/apierror"
)

// ErrorHandler renders every error of the routes Handler registers as
// docs/API.md's {"error": {"code", "message", "details"}} body with its status:
// the handlers return their refusals as errors, so with Echo's default
// handler a service mounting Handler would answer each 4xx as a bare 500.
// Set it as the Echo's HTTPErrorHandler, as easel serve does.
//
// Whoever returned it, an *echo.HTTPError keeps its status, with its
// Message as the message when that is a string and the status's text
// otherwise (a map, an error), and an unreachable database is a 503
// database_unavailable, logged at WARN at most once a minute per reason
// (the others at DEBUG, counted into the next WARN); any other error
// becomes a 500 "internal" whose cause goes to logger only. A service whose own routes, on the same Echo,
// return errors of their own types keeps its own handler for those and
// hands it the rest, Easel's among them:
//
//	easelErrors := api.ErrorHandler(logger)
//	e.HTTPErrorHandler = func(err error, c echo.Context) {
//		var shopErr *ShopError
//		if errors.As(err, &shopErr) && !c.Response().Committed {
//			_ = c.JSON(shopErr.Status, shopErr) // the service's own shape
//			return
//		}
//		easelErrors(err, c)
//	}
func ErrorHandler(logger *slog.Logger) echo.HTTPErrorHandler {
	return apierror.Handler(logger)
}
