package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/easelhq/easel/internal/apierror"
)

// pendingRetryAfter is the Retry-After of a 429 too_many_pending. A client
// at its cap has thousands of generations waiting, which drain at fal's
// pace: a minute is the soonest a retry is likely to find room.
const pendingRetryAfter = time.Minute

// tooManyPending answers an enqueue refused by jobs.ErrTooManyPending.
func (h *Handler) tooManyPending(c echo.Context, client string) error {
	if n, since, ok := h.refusals.refused(client); ok {
		h.logger.Warn("enqueues refused: client at EASEL_CLIENT_MAX_PENDING", "client", client, "refused", n, "since", since,
			"max_pending", h.maxPending,
			"warning", "its enqueues are answered 429 too_many_pending until some of its queued or submitted generations finish")
	}
	c.Response().Header().Set(echo.HeaderRetryAfter, strconv.Itoa(int(pendingRetryAfter/time.Second)))
	return apierror.New(http.StatusTooManyRequests, "too_many_pending", fmt.Sprintf(
		"client %s has %d unfinished (queued or submitted) generations, the most EASEL_CLIENT_MAX_PENDING allows; "+
			"retry once some have finished", client, h.maxPending))
}
