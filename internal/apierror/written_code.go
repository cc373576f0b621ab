package apierror

import "github.com/labstack/echo/v4"

// writtenCodeKey is the echo.Context key under which Handler records the
// code of the error body it wrote.
const writtenCodeKey = "easel.apierror.code"

// WrittenCode returns the code of the error body Handler wrote for the
// request of c, if it wrote one: what a client of the request read, for
// metrics that count refusals by code (metrics' HTTP middleware) without
// every handler counting its own. The codes are Easel's, a fixed set, and
// Echo's statuses without one of their own ("http_" and the status).
func WrittenCode(c echo.Context) (string, bool) {
	code, ok := c.Get(writtenCodeKey).(string)
	return code, ok
}
