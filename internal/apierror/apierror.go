// Package apierror renders every HTTP error Easel returns in one JSON shape:
// {"error": {"code": "...", "message": "...", "details": [...]}}.
package apierror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/easelhq/easel/internal/logthrottle"
)

// Detail names one offending field.
type Detail struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is an HTTP error with a machine-readable code.
type Error struct {
	Status  int      `json:"-"`
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Details []Detail `json:"details,omitempty"`
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// New returns an Error.
func New(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// Handler is an echo.HTTPErrorHandler writing the JSON shape for *Error,
// Echo's own errors (404, 405, 413 ...), the database being unreachable
// (503 database_unavailable, with Retry-After) and, as a 500 that hides
// internals, anything else, but for a request cancelled by its client
// hanging up: that one is logged at DEBUG and gets status 499, nginx's
// "client closed request", with no body and no code.
//
// The WARNs of database_unavailable answers are throttled
// (databaseLogEvery); opts are for tests' clocks.
func Handler(logger *slog.Logger, opts ...logthrottle.Option) echo.HTTPErrorHandler {
	// Keyed by the answer's message, one of a few fixed reasons
	// (unreachable, too many clients, ...): none is forgotten.
	unavailable := logthrottle.New(databaseLogEvery, 0, opts...)
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		if clientGone(err, c) {
			// Not Easel's failure, nor an answer anyone reads: the status
			// is for the logs and metrics that count requests by it.
			logger.Debug("request ended: the client hung up", "method", c.Request().Method, "path", c.Path(), "error", err)
			_ = c.NoContent(statusClientClosedRequest)
			return
		}
		var apiErr *Error
		var httpErr *echo.HTTPError
		switch {
		case errors.As(err, &apiErr):
		case errors.As(err, &httpErr):
			apiErr = fromEcho(httpErr)
		case isDatabaseUnavailable(err):
			apiErr = databaseUnavailable(err)
			logDatabaseUnavailable(logger, unavailable, apiErr.Message, c, err)
		default:
			logger.Error("request failed", "method", c.Request().Method, "path", c.Path(), "error", err)
			apiErr = New(http.StatusInternalServerError, "internal", "internal error; see the server log")
		}
		// Said before writing: the status is sent whether or not the
		// body then reaches the client.
		c.Set(writtenCodeKey, apiErr.Code)
		if apiErr.Code == "database_unavailable" {
			c.Response().Header().Set("Retry-After", retryAfterSeconds())
		}
		// Written for HEAD too, whose body net/http drops, so that HEAD
		// gets GET's headers, Content-Type included.
		if err := c.JSON(apiErr.Status, map[string]*Error{"error": apiErr}); err != nil {
			logger.Warn("write error response", "error", err)
		}
	}
}

// databaseLogEvery is how often at most Handler logs the requests it
// answers 503 database_unavailable for one reason: while the database is
// down every request is one (94 WARN lines in a drill's 30 s outage), and a
// line each buries the few that say something new.
const databaseLogEvery = time.Minute

// logDatabaseUnavailable logs c's request, refused for err, at WARN for
// the first refusal of reason and then at most once a databaseLogEvery,
// with repeated, the refusals the line stands for (itself included), and
// since, when the first of them came, once it stands for more than itself.
// The others go to DEBUG; every one is counted in
// easel_api_errors_total{code="database_unavailable"}. No line says when
// the database is back: the requests that succeed then never reach this
// handler. The process's listener for ?wait ("notification listener
// reconnected") and, in a worker, the callback dispatcher ("database
// reachable again") say it.
func logDatabaseUnavailable(logger *slog.Logger, throttle *logthrottle.Throttle, reason string, c echo.Context, err error) {
	const msg = "request failed: database unavailable"
	args := []any{"method", c.Request().Method, "path", c.Path(), "error", err}
	n, since, ok := throttle.Allow(reason)
	if !ok {
		logger.Debug(msg, args...)
		return
	}
	if n > 1 {
		args = append(args, "repeated", n, "since", since)
	}
	logger.Warn(msg, args...)
}

// statusClientClosedRequest is the status Handler records for a request
// whose client hung up before it was answered: nginx's 499, which no
// client receives.
const statusClientClosedRequest = 499

// clientGone reports whether err is the request of c given up because its
// client hung up, which cancels the request's context: not a server error.
func clientGone(err error, c echo.Context) bool {
	return errors.Is(err, context.Canceled) && c.Request().Context().Err() != nil
}

func fromEcho(e *echo.HTTPError) *Error {
	message := http.StatusText(e.Code)
	if m, ok := e.Message.(string); ok && m != "" {
		message = m
	}
	code := map[int]string{
		http.StatusNotFound:              "not_found",
		http.StatusMethodNotAllowed:      "method_not_allowed",
		http.StatusRequestEntityTooLarge: "too_large",
		http.StatusUnauthorized:          "unauthorized",
		http.StatusUnsupportedMediaType:  "unsupported_media_type",
		http.StatusBadRequest:            "malformed",
	}[e.Code]
	if code == "" {
		code = "http_" + fmt.Sprint(e.Code)
	}
	return &Error{Status: e.Code, Code: code, Message: message}
}
