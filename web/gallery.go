package web

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/easelhq/easel/store"
)

// galleryPageSize fills a few rows of tiles on a wide screen.
const galleryPageSize = 24

type galleryPage struct {
	chrome
	Heading string // "All generations", "Failed generations"
	Status  store.Status
	Paged   bool // the page is past the first, by a cursor
	Filters []filterLink
	Items   []tile
	Newer   string // URL of the next newer page; empty on the first page
	Older   string // URL of the next older page; empty on the last page
}

type filterLink struct {
	Label   string
	URL     string
	Current bool
}

// tile is one generation in the gallery grid.
type tile struct {
	ID        string
	URL       string
	Client    string
	Status    store.Status
	Title     string // the prompt, shortened
	CreatedAt time.Time
	Took      string // time from enqueue to a terminal state; empty while pending
	NSFW      bool   // some image is flagged NSFW
	// NSFWUnknown is set for a completed generation with no image flagged
	// but some image's flag unknown: it may be NSFW, so it is never shown
	// as clean.
	NSFWUnknown bool
	Images      int
	ErrorCode   string // empty for a cancelled generation: a cancel is no error
	Image       *store.Image
}

func (h *Handler) gallery(c echo.Context) error {
	// Not c.QueryParams: it drops a pair that is not valid URL encoding,
	// and with it the filter the pair was, showing everything.
	query, err := url.ParseQuery(c.Request().URL.RawQuery)
	if err != nil {
		return h.renderError(c, http.StatusBadRequest, "The gallery cannot show this address:",
			"the query string is not valid URL encoding ("+err.Error()+"); send a literal '%' as %25 and separate parameters with '&'")
	}
	params, problems := galleryParams(query)
	if len(problems) > 0 {
		return h.renderError(c, http.StatusBadRequest, "The gallery cannot show this address:", problems...)
	}
	items, more, err := store.ListGallery(c.Request().Context(), h.pool, params)
	h.noteDatabase(err)
	if err != nil {
		return h.serverError(c, err)
	}
	// Paging to newer rows past the newest ones leaves nothing: show the
	// first page rather than an empty one.
	if params.After != nil && len(items) == 0 {
		return c.Redirect(http.StatusSeeOther, galleryURL(params.Status, "", ""))
	}

	view := galleryPage{Heading: "All generations", Status: params.Status, Paged: params.Before != nil || params.After != nil,
		Items: make([]tile, len(items))}
	if params.Status != "" {
		view.Heading = capitalize(string(params.Status)) + " generations"
	}
	title := view.Heading
	switch {
	case params.Before != nil:
		title += " (older)"
	case params.After != nil:
		title += " (newer)"
	}
	view.chrome = chromeOf(c, title)
	view.Gallery = true
	view.Filters = append(view.Filters, filterLink{Label: "All", URL: galleryURL("", "", ""), Current: params.Status == ""})
	for _, s := range store.Statuses {
		view.Filters = append(view.Filters, filterLink{Label: string(s), URL: galleryURL(s, "", ""), Current: params.Status == s})
	}
	for i, item := range items {
		view.Items[i] = newTile(item)
	}
	if len(items) > 0 {
		newest, oldest := items[0].Cursor(), items[len(items)-1].Cursor()
		// Going older, a cursor means newer rows exist (we came from them);
		// going newer, more says whether newer rows are left, and the
		// cursor row itself is older.
		if params.Before != nil || (params.After != nil && more) {
			view.Newer = galleryURL(params.Status, "after", encodeCursor(newest))
		}
		if params.After != nil || more {
			view.Older = galleryURL(params.Status, "before", encodeCursor(oldest))
		}
	}
	return h.render(c, http.StatusOK, "gallery", view)
}

func newTile(item store.GalleryItem) tile {
	t := tile{
		ID: item.ID.String(), URL: "/generations/" + item.ID.String(), Client: item.Client, Status: item.Status,
		Title: shorten(item.Prompt, maxTitleRunes), CreatedAt: item.CreatedAt, Images: item.ImageCount,
		NSFW: item.Flagged(), NSFWUnknown: item.NSFWUnknown(),
		ErrorCode: item.ErrorCode, Image: item.FirstImage,
	}
	if item.Status == store.StatusCancelled {
		t.ErrorCode = ""
	}
	if item.FinishedAt != nil {
		t.Took = formatDuration(item.FinishedAt.Sub(item.CreatedAt))
	}
	return t
}

// imageAlt describes a generated image for people who cannot see it. All
// Easel knows of its content is the prompt that asked for it, which the
// page's heading already says: repeating it in every image's alt would
// make a screen reader read a long prompt once per image.
func imageAlt(position, count int, im store.Image) string {
	alt := fmt.Sprintf("Generated image %d of %d", position+1, count)
	switch {
	case im.Flagged():
		alt += ", flagged as possibly NSFW"
	case im.NSFWUnknown():
		// Blurred as a flagged one is: fal sent no flag for it.
		alt += ", not known whether NSFW"
	}
	return alt
}

// maxTitleRunes bounds a prompt shown as a heading: a prompt may run to
// thousands of characters, which the detail page's Input shows in full.
const maxTitleRunes = 120

// shorten returns s cut to at most limit runes, at a space when one is near
// the end, with an ellipsis when anything was cut.
func shorten(s string, limit int) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	runes := []rune(s)[:limit-1] // room for the ellipsis
	cut := len(runes)
	if i := lastSpace(runes); i >= limit*3/4 {
		cut = i
	}
	return strings.TrimRightFunc(string(runes[:cut]), unicode.IsSpace) + "…"
}

func lastSpace(runes []rune) int {
	for i := len(runes) - 1; i >= 0; i-- {
		if unicode.IsSpace(runes[i]) {
			return i
		}
	}
	return -1
}

func capitalize(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[size:]
}

// galleryParameters are the query parameters the gallery takes: the status
// chips' filter and the pager's cursors.
const galleryParameters = "status, before and after"

// apiOnlyParameters are GET /v1/generations parameters that the gallery's
// query (store.ListGallery) does not offer; a person who tries one is told
// where it works.
var apiOnlyParameters = []string{"client", "since", "until", "has_nsfw", "limit", "cursor"}

// galleryParams reads the gallery's query, returning one line per problem.
// Parameters it does not take are refused, as /v1 refuses them, so that a
// misspelt filter never shows every generation.
func galleryParams(q url.Values) (store.GalleryParams, []string) {
	p := store.GalleryParams{Limit: galleryPageSize}
	var problems []string
	problem := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, name := range slices.Sorted(maps.Keys(q)) { // problems in a stable order
		values := q[name]
		switch {
		case name == "": // "?=x" or "?&": nothing a filter could be misspelt as
		case name == "status":
			// An empty value filters nothing, as an empty cursor pages
			// nowhere: "?status=" is the whole gallery.
			values = slices.DeleteFunc(slices.Clone(values), func(v string) bool { return strings.TrimSpace(v) == "" })
			statuses, unknown := store.ParseStatuses(values)
			for _, s := range unknown {
				problem("status: %q is not a status; use one of %s", s, store.JoinStatuses(store.Statuses))
			}
			switch {
			case len(statuses) > 1:
				// store.ListGallery filters on one status: its index scan
				// walks one (status, created_at, id) range in order.
				problem("status: the gallery shows one status at a time; GET /v1/generations?status=%s lists several",
					store.JoinStatuses(statuses))
			case len(statuses) == 1:
				p.Status = statuses[0]
			}
		case name == "before" || name == "after":
			if len(values) > 1 {
				problem("%s: give it once", name)
				continue
			}
			if values[0] == "" {
				continue
			}
			cursor, err := decodeCursor(values[0])
			if err != nil {
				problem("%s: %v", name, err)
				continue
			}
			if name == "before" {
				p.Before = &cursor
			} else {
				p.After = &cursor
			}
		case slices.Contains(apiOnlyParameters, name):
			problem("%s: only GET /v1/generations takes it; the gallery takes %s", name, galleryParameters)
		default:
			problem("%q: unknown parameter; the gallery takes %s", name, galleryParameters)
		}
	}
	if p.Before != nil && p.After != nil {
		problem("give before or after, not both")
	}
	return p, problems
}

func galleryURL(status store.Status, dir, cursor string) string {
	q := url.Values{}
	if status != "" {
		q.Set("status", string(status))
	}
	if dir != "" {
		q.Set(dir, cursor)
	}
	if len(q) == 0 {
		return "/"
	}
	return "/?" + q.Encode()
}

// A cursor in a URL is "<created_at in Unix microseconds>_<id>": exact, as
// Postgres keeps microseconds, and short.
func encodeCursor(c store.GenerationCursor) string {
	return strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + "_" + c.ID.String()
}

func decodeCursor(s string) (store.GenerationCursor, error) {
	micros, id, ok := strings.Cut(s, "_")
	if !ok {
		return store.GenerationCursor{}, errors.New("not a page cursor")
	}
	us, err := strconv.ParseInt(micros, 10, 64)
	if err != nil {
		return store.GenerationCursor{}, errors.New("not a page cursor")
	}
	parsed, err := uuid.Parse(id)
	if err != nil {
		return store.GenerationCursor{}, errors.New("not a page cursor")
	}
	c := store.GenerationCursor{CreatedAt: time.UnixMicro(us), ID: parsed}
	if !c.InRange() {
		return store.GenerationCursor{}, errors.New("page cursor out of range")
	}
	return c, nil
}
