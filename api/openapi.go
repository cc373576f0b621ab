package api

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPIDocument describes /v1. openapi_test.go keeps it true: every route
// documented and every documented route served, the styles enum equal to
// fal.StyleNames, and real responses valid against it.
//
//go:embed openapi.yaml
var openAPIDocument []byte

// ServeOpenAPI answers GET /openapi.yaml with the OpenAPI 3 document of /v1.
// It needs no API key: the document holds nothing secret.
func ServeOpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", openAPIDocument)
}
