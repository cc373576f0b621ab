package apierror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"
)

// databaseRetryAfter is the Retry-After of a database_unavailable answer:
// Postgres restarts, and pools reconnect, within seconds.
const databaseRetryAfter = 5 * time.Second

// databaseUnavailable is Handler's answer to err, an error that means the
// database could not be reached.
func databaseUnavailable(err error) *Error {
	return New(http.StatusServiceUnavailable, "database_unavailable", databaseUnavailableMessage(err))
}

// refusals are the SQLSTATEs of Postgres refusing a new connection for now,
// and why: "unreachable" would send whoever reads the answer looking at the
// network, where the server answered.
var refusals = map[string]string{
	// too_many_connections: max_connections, or a role's or a database's
	// CONNECTION LIMIT, is reached.
	"53300": "too many clients",
	"53400": "a server limit is reached",                                                   // configuration_limit_exceeded
	"57P03": "it does not accept connections now (starting up, shutting down, recovering)", // cannot_connect_now
}

// databaseUnavailableMessage says what kept err's request from the
// database; it names no server, role or database.
func databaseUnavailableMessage(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if why, ok := refusals[pgErr.Code]; ok {
			return fmt.Sprintf("Postgres refused a connection: %s (SQLSTATE %s); retry later", why, pgErr.Code)
		}
	}
	return "the database is unreachable; retry later"
}

// isDatabaseUnavailable reports whether err means the database could not be
// reached or went away, rather than that a query was wrong: the request may
// succeed if retried.
func isDatabaseUnavailable(err error) bool {
	var (
		connectErr *pgconn.ConnectError
		pgErr      *pgconn.PgError
		// pgconn's own errors about a connection (receive failed, closed,
		// busy, timed out) say whether a retry is safe; only they do.
		connErr interface{ SafeToRetry() bool }
		opErr   *net.OpError
		urlErr  *url.Error
	)
	switch {
	case errors.As(err, &connectErr), errors.As(err, &connErr), pgconn.Timeout(err):
		return true
	case errors.As(err, &pgErr):
		// Class 08 is connection exceptions; 57P the server shutting
		// down, crashed, starting or ending the session; 53300 too many
		// connections, 53400 another limit of the server's.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P") || pgErr.Code == "53300" || pgErr.Code == "53400"
	case errors.As(err, &urlErr):
		// An HTTP call to another service (fal) failed, not the database.
		return false
	case errors.As(err, &opErr), errors.Is(err, io.ErrUnexpectedEOF):
		// A write to a connection the server closed.
		return true
	case errors.Is(err, context.DeadlineExceeded):
		// The pool had no connection to give before the request's deadline.
		return true
	}
	return false
}

func retryAfterSeconds() string { return strconv.Itoa(int(databaseRetryAfter / time.Second)) }

// DatabaseUnavailable reports whether Handler answers err with 503
// database_unavailable, and the Retry-After it sends with it, for pages
// that answer in their own format (the gallery) what the API answers then.
func DatabaseUnavailable(err error) (retryAfter string, ok bool) {
	var (
		apiErr  *Error
		httpErr *echo.HTTPError
	)
	switch {
	case errors.As(err, &apiErr):
		ok = apiErr.Code == "database_unavailable"
	case errors.As(err, &httpErr):
		ok = false
	default:
		ok = isDatabaseUnavailable(err)
	}
	if !ok {
		return "", false
	}
	return retryAfterSeconds(), true
}
