package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/resource"
	"github.com/easelhq/easel/store"
)

const (
	// DefaultListLimit is the page size of GET /v1/generations without limit.
	DefaultListLimit = 50
	// MaxListLimit caps limit; larger values are lowered to it.
	MaxListLimit = 200
)

// generationList is one page of GET /v1/generations.
type generationList struct {
	Data []*resource.Generation `json:"data"`
	// NextCursor is the cursor of the following page, null on the last.
	NextCursor *string `json:"next_cursor"`
}

// list serves GET /v1/generations: generations newest first, filtered, one
// page per request. Each item is the full resource, images included; the
// images of a whole page come from one query.
func (h *Handler) list(c echo.Context) error {
	q, details := queryParams(c.Request())
	if len(details) > 0 {
		return invalidRequest(details)
	}
	params, details := parseListQuery(q)
	if len(details) > 0 {
		return invalidRequest(details)
	}
	ctx := c.Request().Context()
	gens, next, err := store.ListGenerations(ctx, h.pool, params)
	if err != nil {
		return err
	}
	ids := make([]uuid.UUID, len(gens))
	for i, g := range gens {
		ids[i] = g.ID
	}
	images, err := store.ListImagesOf(ctx, h.pool, ids)
	if err != nil {
		return err
	}
	page := generationList{Data: make([]*resource.Generation, len(gens)), NextCursor: encodeCursor(next)}
	for i, g := range gens {
		page.Data[i] = resource.NewGeneration(g, images[g.ID])
	}
	return c.JSON(http.StatusOK, page)
}

// parseListQuery reads GET /v1/generations's query, naming every invalid
// parameter. Unknown parameters are rejected so that a misspelt filter
// never silently lists everything.
func parseListQuery(q url.Values) (store.ListGenerationsParams, []apierror.Detail) {
	p := store.ListGenerationsParams{Limit: DefaultListLimit}
	var details []apierror.Detail
	invalid := func(field, format string, args ...any) {
		details = append(details, apierror.Detail{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	names := make([]string, 0, len(q))
	for name := range q {
		if name != "" { // "?=x" or "?&": nothing a filter could be misspelt as
			names = append(names, name)
		}
	}
	slices.Sort(names) // details in a stable order

	for _, name := range names {
		values := q[name]
		if !slices.Contains(listParameters, name) {
			invalid(name, "unknown query parameter; filters are status, client, since, until, has_nsfw, with limit and cursor")
			continue
		}
		if name != "status" && len(values) > 1 {
			invalid(name, "must be given once")
			continue
		}
		// Checked for every parameter, not only client (the one that
		// reaches SQL as text), so that each refuses such bytes alike.
		if slices.ContainsFunc(values, notQueryText) {
			invalid(name, "%s", notQueryTextMessage)
			continue
		}
		value := values[0]
		switch name {
		case "status":
			var unknown []string
			p.Statuses, unknown = store.ParseStatuses(values)
			for _, s := range unknown {
				invalid("status", "%q is not a status; use %s (repeat it or separate by commas for several)", s, statusList())
			}
		case "client":
			if value == "" {
				invalid(name, "must not be empty")
			}
			p.Client = value
		case "since", "until":
			t, err := time.Parse(time.RFC3339Nano, value)
			if err != nil {
				invalid(name, "%s", timestampProblem(value))
			}
			if name == "since" {
				p.Since = t
			} else {
				p.Until = t
			}
		case "has_nsfw":
			switch value {
			case "true", "false":
				nsfw := value == "true"
				p.HasNSFW = &nsfw
			default:
				invalid(name, "must be true or false")
			}
		case "limit":
			n, err := strconv.Atoi(value)
			switch {
			case errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(value, "-"):
				invalid(name, "is too large to read; values above %d are lowered to it, so ask for %d", MaxListLimit, MaxListLimit)
			case err != nil || n < 1:
				invalid(name, "must be a positive integer; values above %d are lowered to %d", MaxListLimit, MaxListLimit)
			}
			p.Limit = min(n, MaxListLimit)
		case "cursor":
			cursor, err := decodeCursor(value)
			if err != nil {
				invalid(name, "%v", err)
			}
			p.After = cursor
		}
	}
	if !p.Since.IsZero() && !p.Until.IsZero() && !p.Until.After(p.Since) {
		invalid("until", "must be after since")
	}
	return p, details
}

// listParameters are the query parameters GET /v1/generations reads.
var listParameters = []string{"status", "client", "since", "until", "has_nsfw", "limit", "cursor"}

// timestampProblem says why value is not an RFC 3339 timestamp. A '+'
// offset sent unencoded arrives as a space ("+" is a space in a query
// string), which the generic message leaves a puzzle: the value looks
// right in the caller's code.
func timestampProblem(value string) string {
	const problem = "must be an RFC 3339 timestamp, e.g. 2026-01-02T15:04:05Z"
	if i := strings.LastIndexByte(value, ' '); i > 0 && isOffsetDigits(value[i+1:]) {
		return problem + "; a '+' in a URL query must be sent as %2B, or it reads as a space"
	}
	return problem
}

// isOffsetDigits reports whether s is an offset without its sign: "01:00",
// or "0100", which RFC 3339 does not allow but whose '+' was lost all the
// same.
func isOffsetDigits(s string) bool {
	digit := func(b byte) bool { return '0' <= b && b <= '9' }
	switch len(s) {
	case 5:
		return digit(s[0]) && digit(s[1]) && s[2] == ':' && digit(s[3]) && digit(s[4])
	case 4:
		return digit(s[0]) && digit(s[1]) && digit(s[2]) && digit(s[3])
	}
	return false
}

func statusList() string {
	return strings.ReplaceAll(store.JoinStatuses(store.Statuses), ",", ", ")
}
