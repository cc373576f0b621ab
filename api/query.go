package api

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/easelhq/easel/internal/apierror"
)

// readQuery reads req's query string for an endpoint that takes only the
// parameters known, naming what is not valid URL encoding or, if it all is,
// each parameter it does not take (unknownQueryParams).
func readQuery(req *http.Request, rule string, known ...string) (url.Values, []apierror.Detail) {
	q, details := queryParams(req)
	if len(details) == 0 {
		details = unknownQueryParams(q, rule, known...)
	}
	return q, details
}

// unknownQueryParams names every query parameter of q that is not one of
// known, in a stable order. Every endpoint refuses what it does not read,
// as GET /v1/generations always has, so that a misspelt parameter is never
// silently ignored; rule says what the endpoint does take.
func unknownQueryParams(q url.Values, rule string, known ...string) []apierror.Detail {
	var details []apierror.Detail
	for _, name := range slices.Sorted(maps.Keys(q)) {
		// "?=x" and "?&" name nothing that could be misspelt.
		if name != "" && !slices.Contains(known, name) {
			details = append(details, apierror.Detail{Field: name, Message: "unknown query parameter; " + rule})
		}
	}
	return details
}

// notQueryTextMessage is the detail for a query value notQueryText refuses.
const notQueryTextMessage = "must be UTF-8 text without NUL characters (%00)"

// notQueryText reports whether a query value is something no Postgres text
// can hold: a NUL byte or invalid UTF-8, which percent-encoding lets any
// caller send. Passed on, either fails the query (SQLSTATE 22021) and the
// request would be a 500 instead of naming the parameter.
func notQueryText(v string) bool {
	return !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0
}
