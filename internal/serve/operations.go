package serve

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"
	"riverqueue.com/riverui"

	"github.com/easelhq/easel/metrics"
)

// riverUIPrefix is where River UI is served.
const riverUIPrefix = "/riverui"

// mountOperations serves /metrics in every role, for Prometheus, like the
// health endpoints without authentication: it shows counts, nothing else.
// With the HTTP API it also serves River UI at /riverui/, behind
// requireSession, the gallery's sign-in (web.Handler.RequireSession): a
// browser session or what the API admits, since the UI can cancel, retry
// and delete jobs and is opened in a browser, which cannot send a Bearer
// key.
func mountOperations(ctx context.Context, e *echo.Echo, m *metrics.Metrics, riverClient *river.Client[pgx.Tx],
	requireSession echo.MiddlewareFunc, role Role, logger *slog.Logger,
) error {
	e.Match(getHead, "/metrics", echo.WrapHandler(m.Handler()))
	if !role.runsHTTPAPI() {
		return nil
	}
	ui, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(riverClient, nil),
		Logger:    riverUILogger(logger).With("component", "riverui"),
		Prefix:    riverUIPrefix,
	})
	if err != nil {
		return fmt.Errorf("create River UI: %w", err)
	}
	// Its background services stop with ctx.
	if err := ui.Start(ctx); err != nil {
		return fmt.Errorf("start River UI: %w", err)
	}
	handler := echo.WrapHandler(ui)
	e.Any(riverUIPrefix, handler, requireSession)
	e.Any(riverUIPrefix+"/*", handler, requireSession)
	return nil
}
