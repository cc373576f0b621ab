package api

import (
	"maps"
	"net/url"
	"slices"

	"github.com/easelhq/easel/internal/apierror"
)

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
