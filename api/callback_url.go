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

// WithCallbackURLs makes the handler refuse callback URLs that c refuses,
// beyond their syntax, which callbacks.CheckURLSyntax always checks, for
// Go callers too. What c decides (easel serve's refuses every URL without a
// callback secret, and private addresses unless allowed) depends on this
// process's configuration, so only the HTTP API applies it at enqueue.
func (h *Handler) WithCallbackURLs(c CallbackURLChecker) *Handler {
	h.callbackURLs = c
	return h
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
