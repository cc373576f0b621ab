package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/jobs"
)

// pendingRetryAfter is the Retry-After of a 429 too_many_pending. A client
// at its cap has thousands of generations waiting, which drain at fal's
// pace: a minute is the soonest a retry is likely to find room.
const pendingRetryAfter = time.Minute

// WithMaxPending caps each client's unfinished (queued or submitted)
// generations at n (EASEL_CLIENT_MAX_PENDING): an enqueue beyond it is a
// 429 too_many_pending, except for an idempotent replay. Zero, the default,
// means no cap. See jobs.ErrTooManyPending.
//
// The count of a client's unfinished generations reads up to n rows, so
// the handler reuses one for up to a second while it shows room (see
// jobs.PendingCache) instead of counting in every enqueue.
func (h *Handler) WithMaxPending(n int) *Handler {
	h.maxPending = n
	h.pending = &jobs.PendingCache{}
	return h
}

// tooManyPending answers an enqueue refused by jobs.ErrTooManyPending.
func (h *Handler) tooManyPending(c echo.Context, client string) error {
	c.Response().Header().Set(echo.HeaderRetryAfter, strconv.Itoa(int(pendingRetryAfter/time.Second)))
	return apierror.New(http.StatusTooManyRequests, "too_many_pending", fmt.Sprintf(
		"client %s has %d unfinished (queued or submitted) generations, the most EASEL_CLIENT_MAX_PENDING allows; "+
			"retry once some have finished", client, h.maxPending))
}
