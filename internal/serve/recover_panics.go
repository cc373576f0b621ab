package serve

import (
	"fmt"
	"net/http"
	"runtime"

	"github.com/labstack/echo/v4"
)

// recoverPanics ends a handler's panic as any other internal error: a 500
// with docs/API.md's body, counted by the metrics middleware around it, and
// one JSON log line whose error holds the panicking goroutine's stack.
// Without it net/http prints a plain-text trace to stderr and drops the
// connection. Echo's own Recover middleware would do as much, but its
// package pulls in golang.org/x/time for a rate limiter Easel does not use.
func recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if r == http.ErrAbortHandler { // net/http's way to abort a response on purpose
				panic(r)
			}
			stack := make([]byte, 16<<10)
			stack = stack[:runtime.Stack(stack, false)]
			err = fmt.Errorf("handler panicked: %v\n%s", r, stack)
		}()
		return next(c)
	}
}
