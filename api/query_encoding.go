package api

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/easelhq/easel/internal/apierror"
)

// wholeQueryField is the detail field of a query string problem that no
// parameter's name can be given for.
const wholeQueryField = "query"

// notURLEncoded starts the message of each part of a query string that
// url.ParseQuery refuses.
const notURLEncoded = "the query string is not valid URL encoding: "

// queryParams parses req's query string, naming each part that is not
// valid URL encoding. Echo's QueryParams and URL.Query drop such a part
// and the error with it, so "?client=nobody%zz" would list every client's
// generations and "?wait=30s%zz" would not wait: every handler reads its
// query through this instead, and refuses the request when details are
// returned.
func queryParams(req *http.Request) (url.Values, []apierror.Detail) {
	return parseRawQuery(req.URL.RawQuery)
}

// parseRawQuery is queryParams on the raw query string. url.ParseQuery
// decides what is invalid; walking the pairs again only finds what to name.
func parseRawQuery(raw string) (url.Values, []apierror.Detail) {
	q, err := url.ParseQuery(raw)
	if err == nil {
		return q, nil
	}
	var details []apierror.Detail
	for rest := raw; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		if before, _, found := strings.Cut(pair, ";"); found {
			// Some servers read ';' as '&', Go as neither: the caller meant
			// something that cannot be known.
			key, _, _ := strings.Cut(before, "=")
			details = append(details, apierror.Detail{Field: paramName(key),
				Message: notURLEncoded + "';' does not separate parameters; use '&', or send a literal ';' as %3B"})
			continue
		}
		key, value, _ := strings.Cut(pair, "=")
		if _, err := url.QueryUnescape(key); err != nil {
			details = append(details, apierror.Detail{Field: wholeQueryField,
				Message: notURLEncoded + err.Error() + " in the parameter name " + strconv.Quote(key) + "; send a literal '%' as %25"})
		} else if _, err := url.QueryUnescape(value); err != nil {
			details = append(details, apierror.Detail{Field: paramName(key),
				Message: notURLEncoded + err.Error() + " in this parameter's value; send a literal '%' as %25"})
		}
	}
	if len(details) == 0 {
		// Not an encoding problem: too many parameters, say.
		details = append(details, apierror.Detail{Field: wholeQueryField, Message: "the query string cannot be read: " + err.Error()})
	}
	return nil, details
}

// paramName is the field a detail names the parameter whose raw name is
// key by: the name decoded, or the whole query when it has none to give.
func paramName(key string) string {
	name, err := url.QueryUnescape(key)
	if err != nil || name == "" {
		return wholeQueryField
	}
	return name
}
