package api

import (
	"net/http"
	"net/url"
	"path"

	"github.com/google/uuid"
)

// generationLocation is the Location of generation id, created by req:
// the path req asked for, <prefix>/generations, with /{id} appended, so
// that it leads back to wherever the service mounted Handler
// (e.Group("/easel/v1"), an Echo behind http.StripPrefix), as /v1 does at
// the root. The path comes from the request line (RequestURI) as the
// client sent it, since http.StripPrefix and Echo's Pre middleware rewrite
// URL.Path; a proxy that strips a prefix before the service sees the
// request leaves no trace of it, and the path is then the one it forwarded.
func generationLocation(req *http.Request, id uuid.UUID) string {
	created := req.URL.EscapedPath()
	if asked, err := url.ParseRequestURI(req.RequestURI); err == nil && asked.Path != "" {
		created = asked.EscapedPath()
	}
	// Cleaned, so never with a leading "//", which a client would read as
	// another host's URL.
	return path.Join("/", created, id.String())
}
