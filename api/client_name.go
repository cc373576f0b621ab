package api

import "github.com/labstack/echo/v4"

// AnonymousClient names generations enqueued without an API key (allowed only
// while the API is open: see Auth).
const AnonymousClient = "anonymous"

const clientKey = "easel.client"

// ClientName is the calling service's name, as set by the auth middleware.
func ClientName(c echo.Context) string {
	if name, ok := c.Get(clientKey).(string); ok && name != "" {
		return name
	}
	return AnonymousClient
}
