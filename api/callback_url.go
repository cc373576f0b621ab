package api

import (
	"context"

	"github.com/labstack/echo/v4"

	"github.com/easelhq/easel/internal/apierror"
)

// CallbackURLChecker vets a callback_url when a generation is enqueued;
// callbacks.Policy is one. Its error becomes the message of a 422 naming
// callback_url.
type CallbackURLChecker interface {
	CheckURL(ctx context.Context, rawURL string) error
}

// checkCallbackURL returns a 422 naming callback_url when the checker
// refuses rawURL.
func (h *Handler) checkCallbackURL(c echo.Context, rawURL string) error {
	if h.callbackURLs == nil || rawURL == "" {
		return nil
	}
	if err := h.callbackURLs.CheckURL(c.Request().Context(), rawURL); err != nil {
		return invalidRequest([]apierror.Detail{{Field: "callback_url", Message: err.Error()}})
	}
	return nil
}
