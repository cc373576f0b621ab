package web_test

import (
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

func TestGallery(t *testing.T) {
	t.Parallel()
	b := setup(t)

	safe := b.insert(t, "a lighthouse at dusk")
	b.complete(t, safe.ID, store.Image{URL: "https://cdn.example/safe.png", Width: 1024, Height: 768, FileSize: 2048, NSFW: new(false)})
	flagged := b.insert(t, "a <b>bold</b> prompt")
	b.complete(t, flagged.ID, store.Image{URL: "https://cdn.example/flagged.png", Width: 512, Height: 512, NSFW: new(true)})
	pending := b.insert(t, "still waiting")

	resp := b.page(t, "/")
	require.Equal(t, http.StatusOK, resp.status)
	require.Contains(t, resp.header.Get("Content-Type"), "text/html")
	require.Contains(t, resp.header.Get("Content-Security-Policy"), "script-src 'self'")
	require.Equal(t, "no-store", resp.header.Get("Cache-Control"))
	body := resp.body

	for _, g := range []*store.Generation{safe, flagged, pending} {
		require.Contains(t, body, `href="/generations/`+g.ID.String()+`"`)
	}
	require.Contains(t, body, `src="https://cdn.example/safe.png"`)
	require.Contains(t, body, `width="1024" height="768"`)
	// The heading's link names a tile, so its image is decorative.
	require.Equal(t, 2, count(body, `alt=""`))
	require.Contains(t, body, "a &lt;b&gt;bold&lt;/b&gt; prompt", "prompts are escaped")
	require.NotContains(t, body, "<b>bold</b>")
	// A prompt or client name in a right-to-left script keeps its own
	// direction, and does not reorder what surrounds it.
	require.Contains(t, body, `<h2 id="title-`+safe.ID.String()+`" dir="auto"><a class="card-link" href="/generations/`+safe.ID.String()+`">a lighthouse at dusk</a></h2>`)
	require.Equal(t, 3, count(body, "<dd><bdi>tests</bdi></dd>"))

	// Exactly one tile is blurred, behind a button that says what it does.
	require.Equal(t, 1, count(body, `class="media nsfw"`))
	require.Equal(t, 1, count(body, `<button type="button" class="reveal"><span class="reveal-label">Reveal</span><span class="visually-hidden"> possibly NSFW image</span></button>`))
	require.Equal(t, 1, count(body, `>NSFW</span>`))

	require.Contains(t, body, `<span class="badge status-queued">queued</span>`)
	require.Equal(t, 2, count(body, `<span class="badge status-completed">completed</span>`))
	require.Contains(t, body, "<dt>Took</dt>")
	require.Contains(t, body, `<link rel="stylesheet" href="/static/easel.css?v=`)
	require.Contains(t, body, `<link rel="icon" href="data:,">`, "no request for /favicon.ico")
	require.NotContains(t, body, "<script>", "no inline script: the CSP forbids it")
	require.Contains(t, body, "<title>All generations · Easel</title>")
	require.Contains(t, body, "<h1>All generations</h1>")
	require.Contains(t, body, `<a href="/" aria-current="page">Gallery</a>`)
}

// A generation none of whose images is flagged, but some of whose flags fal
// did not send, may be NSFW: its tile says "NSFW unknown", never shows it
// as clean, and blurs its image when that image's own flag is the unknown
// one, as the detail page does.
func TestGalleryUnknownNSFW(t *testing.T) {
	t.Parallel()
	b := setup(t)
	unknownFirst := b.insert(t, "first flag unknown")
	b.complete(t, unknownFirst.ID, store.Image{URL: "https://cdn.example/u0.png"}, store.Image{Position: 1, URL: "https://cdn.example/u1.png", NSFW: new(false)})
	unknownSecond := b.insert(t, "second flag unknown")
	b.complete(t, unknownSecond.ID, store.Image{URL: "https://cdn.example/k0.png", NSFW: new(false)}, store.Image{Position: 1, URL: "https://cdn.example/k1.png"})
	clean := b.insert(t, "every flag known")
	b.complete(t, clean.ID, store.Image{URL: "https://cdn.example/c0.png", NSFW: new(false)})
	b.insert(t, "not completed yet")

	body := b.page(t, "/").body
	tiles := map[string]string{}
	for _, m := range regexp.MustCompile(`(?s)<article class="tile"[^>]* data-id="([^"]+)".*?</article>`).FindAllStringSubmatch(body, -1) {
		tiles[m[1]] = m[0]
	}
	require.Len(t, tiles, 4)

	const badge = `<span class="badge status-completed">completed</span> <span class="badge nsfw-badge">NSFW unknown</span>`
	first := tiles[unknownFirst.ID.String()]
	require.Contains(t, first, badge)
	require.Contains(t, first, `<div class="media nsfw">`)
	require.Contains(t, first, `<span class="visually-hidden"> possibly NSFW image</span>`)

	second := tiles[unknownSecond.ID.String()]
	require.Contains(t, second, badge, "a known-clean first image does not make the generation clean")
	require.Contains(t, second, `<div class="media">`, "its image's own flag is known and clean, as on the detail page")

	require.NotContains(t, tiles[clean.ID.String()], "NSFW")
	require.Equal(t, 2, count(body, "NSFW unknown"), "a generation not completed has no flag to be unknown")
	require.NotContains(t, body, `>NSFW</span>`)
}

// A tile's date carries its year: without one, last year's generation
// would read as this year's.
func TestGalleryDatesCarryTheYear(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insert(t, "old")
	b.setCreatedAt(t, g.ID, time.Date(2025, 10, 5, 17, 15, 42, 0, time.UTC))

	body := b.page(t, "/").body
	require.Contains(t, body, `<time datetime="2025-10-05T17:15:42Z">2025-10-05 17:15 UTC</time>`)
}

// A long prompt is cut short where it names a tile or a page, and shown in
// full only in the generation's input.
func TestLongPromptIsShortened(t *testing.T) {
	t.Parallel()
	b := setup(t)
	prompt := strings.Repeat("a very long prompt ", 270) // 5,130 characters
	g := b.insert(t, prompt)
	b.complete(t, g.ID, store.Image{URL: "https://cdn.example/0.png", NSFW: new(false)}, store.Image{Position: 1, URL: "https://cdn.example/1.png", NSFW: new(false)})

	detail := "/generations/" + g.ID.String()
	pages := []struct {
		path    string
		heading *regexp.Regexp
		full    int // how often the whole prompt appears
	}{
		{"/", regexp.MustCompile(`<h2 id="title-[^"]+" dir="auto"><a class="card-link" href="[^"]+">([^<]*)</a></h2>`), 0},
		{detail, regexp.MustCompile(`<h1 dir="auto">([^<]*)</h1>`), 1},
	}
	for _, p := range pages {
		body := b.page(t, p.path).body
		m := p.heading.FindStringSubmatch(body)
		require.NotNil(t, m, p.path)
		title := html.UnescapeString(m[1])
		require.LessOrEqual(t, utf8.RuneCountInString(title), 120, title)
		require.Greater(t, utf8.RuneCountInString(title), 90, title)
		cut, ok := strings.CutSuffix(title, "…")
		require.True(t, ok, "an ellipsis says it is cut: %q", title)
		require.True(t, strings.HasPrefix(prompt, cut+" "), "cut at a space: %q", title)
		require.Equal(t, p.full, count(body, prompt), p.path)
	}

	body := b.page(t, detail).body
	require.Contains(t, body, `<dt>Prompt</dt><dd dir="auto">`+prompt+`</dd>`, "the input shows all of it")
	require.Contains(t, body, `alt="Generated image 1 of 2"`)
	require.Contains(t, body, `alt="Generated image 2 of 2"`)
}

func TestGalleryFilterByStatus(t *testing.T) {
	t.Parallel()
	b := setup(t)

	done := b.insert(t, "done")
	b.complete(t, done.ID, store.Image{URL: "https://cdn.example/done.png"})
	failed := b.insert(t, "broken")
	_, err := store.Fail(b.ctx, b.pool, failed.ID, "fal_rejected", "prompt refused")
	require.NoError(t, err)

	body := b.page(t, "/?status=failed").body
	require.Contains(t, body, failed.ID.String())
	require.NotContains(t, body, done.ID.String())
	require.Contains(t, body, `<a href="/?status=failed" aria-current="page">failed</a>`)
	require.Contains(t, body, "<code>fal_rejected</code>")
	require.Contains(t, body, "<title>Failed generations · Easel</title>")
	require.Contains(t, body, "<h1>Failed generations</h1>")
	require.Contains(t, body, `<a href="/" aria-current="page">Gallery</a>`)

	// An empty filter says so, and leads back to everything rather than to
	// enqueuing.
	body = b.page(t, "/?status=cancelled").body
	require.Contains(t, body, `<p class="empty">No cancelled generations. <a href="/">Show all generations</a></p>`)
	require.NotContains(t, body, "easel enqueue")
}

// A cancelled generation was asked for: it is no error, on its tile or its
// page.
func TestCancelledIsNoError(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insert(t, "never mind")
	changed, err := store.Cancel(b.ctx, b.pool, g.ID, "cancelled by the client")
	require.NoError(t, err)
	require.True(t, changed)

	body := b.page(t, "/").body
	require.Contains(t, body, `<span class="badge status-cancelled">cancelled</span>`)
	require.NotContains(t, body, "<dt>Error</dt>")

	body = b.page(t, "/generations/"+g.ID.String()).body
	require.Contains(t, body, `<h2 id="cancelled-title">Cancelled</h2>
  <p>cancelled by the client</p>`)
	require.NotContains(t, body, `class="error"`)
	require.NotContains(t, body, "error-title")
	require.NotContains(t, body, "tone-bad", "the timeline's Cancelled entry is neutral")
}

func TestGalleryPagination(t *testing.T) {
	t.Parallel()
	b := setup(t)

	// 30 generations a second apart: a first page of 24 and a second of 6.
	const n = 30
	ids := make([]string, n) // newest first
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range n {
		g := b.insert(t, "p")
		b.setCreatedAt(t, g.ID, base.Add(time.Duration(i)*time.Second))
		ids[n-1-i] = g.ID.String()
	}
	tileIDs := regexp.MustCompile(`data-id="([0-9a-f-]{36})"`)
	idsOn := func(body string) []string {
		var got []string
		for _, m := range tileIDs.FindAllStringSubmatch(body, -1) {
			got = append(got, m[1])
		}
		return got
	}
	link := func(body, rel string) string {
		m := regexp.MustCompile(`rel="` + rel + `" href="([^"]+)"`).FindStringSubmatch(body)
		if m == nil {
			return ""
		}
		return html.UnescapeString(m[1])
	}

	first := b.page(t, "/").body
	require.Equal(t, ids[:24], idsOn(first))
	require.Empty(t, link(first, "prev"), "the first page has nothing newer")
	older := link(first, "next")
	require.NotEmpty(t, older)

	second := b.page(t, older).body
	require.Equal(t, ids[24:], idsOn(second))
	require.Empty(t, link(second, "next"), "the last page has nothing older")
	newer := link(second, "prev")
	require.NotEmpty(t, newer)

	back := b.page(t, newer).body
	require.Equal(t, ids[:24], idsOn(back))
	require.Empty(t, link(back, "prev"))
	require.Equal(t, older, link(back, "next"))

	// The title says which page it is.
	require.Contains(t, first, "<title>All generations · Easel</title>")
	require.Contains(t, second, "<title>All generations (older) · Easel</title>")
	require.Contains(t, back, "<title>All generations (newer) · Easel</title>")

	// Older than the oldest: an empty page that leads back to the newest,
	// not a suggestion to enqueue.
	empty := b.page(t, "/?before=1_0193a4c1-7d1e-7c4e-9d6b-2f1d9c1e0a11").body
	require.Contains(t, empty, `<p class="empty">No generations on this page. <a href="/">Show the newest generations</a></p>`)
	require.NotContains(t, empty, "easel enqueue")
}

// TestGalleryRejectsBadParameters: whatever the gallery does not take or
// cannot read is refused with a 400 naming each problem, as /v1 refuses it,
// so that a misspelt filter never shows every generation.
func TestGalleryRejectsBadParameters(t *testing.T) {
	t.Parallel()
	b := setup(t)

	const takes = "; the gallery takes status, before and after"
	const cursor = "1_0193a4c1-7d1e-7c4e-9d6b-2f1d9c1e0a11"
	for _, tt := range []struct {
		query string
		want  []string // each line of the page's list of problems
	}{
		{"status=done", []string{`status: "done" is not a status; use one of queued,submitted,completed,failed,cancelled`}},
		{"status=failed,nope", []string{`status: "nope" is not a status`}},
		{"status=failed&status=cancelled", []string{
			"status: the gallery shows one status at a time; GET /v1/generations?status=failed,cancelled lists several"}},
		{"status=failed,cancelled", []string{
			"status: the gallery shows one status at a time; GET /v1/generations?status=failed,cancelled lists several"}},
		{"client=other", []string{"client: only GET /v1/generations takes it" + takes}},
		{"limit=5", []string{"limit: only GET /v1/generations takes it" + takes}},
		{"has_nsfw=true", []string{"has_nsfw: only GET /v1/generations takes it" + takes}},
		{"foo=bar", []string{`"foo": unknown parameter` + takes}},
		{"Status=failed", []string{`"Status": unknown parameter` + takes}},
		{"foo=1&status=failed&bar=2&client=x", []string{
			`"bar": unknown parameter`, "client: only GET /v1/generations takes it", `"foo": unknown parameter`}},
		{"before=yesterday", []string{"before: not a page cursor"}},
		{"after=123_not-a-uuid", []string{"after: not a page cursor"}},
		{"before=999999999999999999_0193a4c1-7d1e-7c4e-9d6b-2f1d9c1e0a11", []string{"before: page cursor out of range"}},
		// Outside years 1 to 9999, which Postgres would fail the query on.
		{"before=-9223372036854775808_0193a4c1-7d1e-7c4e-9d6b-2f1d9c1e0a11", []string{"before: page cursor out of range"}},
		{"after=9223372036854775807_0193a4c1-7d1e-7c4e-9d6b-2f1d9c1e0a11", []string{"after: page cursor out of range"}},
		{"after=-62135596800000001_0193a4c1-7d1e-7c4e-9d6b-2f1d9c1e0a11", []string{"after: page cursor out of range"}},
		{"before=253402300800000000_0193a4c1-7d1e-7c4e-9d6b-2f1d9c1e0a11", []string{"before: page cursor out of range"}},
		{"before=" + cursor + "&before=" + cursor, []string{"before: give it once"}},
		{"before=" + cursor + "&after=" + cursor, []string{"give before or after, not both"}},
		{"status=failed%zz", []string{`the query string is not valid URL encoding (invalid URL escape "%zz")`}},
		{"status=failed;status=queued", []string{"the query string is not valid URL encoding (invalid semicolon separator in query)"}},
	} {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			resp := b.page(t, "/?"+tt.query)
			require.Equal(t, http.StatusBadRequest, resp.status)
			require.Contains(t, resp.body, "<h1>Bad Request</h1>")
			require.Contains(t, resp.body, "The gallery cannot show this address:")
			items := regexp.MustCompile(`<li>([^<]*)</li>`).FindAllStringSubmatch(resp.body, -1)
			require.Len(t, items, len(tt.want), resp.body)
			for i, want := range tt.want {
				require.Contains(t, html.UnescapeString(items[i][1]), want)
			}
		})
	}
}

// TestGalleryStatusForms: status is read as /v1 reads it, repeated or
// separated by commas, as long as it names one status; parameters that name
// nothing are ignored, as /v1 ignores them.
func TestGalleryStatusForms(t *testing.T) {
	t.Parallel()
	b := setup(t)

	done := b.insert(t, "done")
	b.complete(t, done.ID, store.Image{URL: "https://cdn.example/done.png"})
	failed := b.insert(t, "broken")
	_, err := store.Fail(b.ctx, b.pool, failed.ID, "fal_rejected", "prompt refused")
	require.NoError(t, err)

	for _, tt := range []struct {
		query      string
		wantFailed bool // only the failed generation is listed
	}{
		{"status=failed", true},
		{"status=failed,failed", true},
		{"status=failed&status=failed", true},
		{"status=%20failed%20", true},
		// An empty value is as if absent, for every parameter.
		{"status=failed&before=", true},
		{"status=failed&after=", true},
		{"status=failed&status=", true},
		{"status=", false},
		{"status=%20", false},
		{"status=&before=&after=", false},
		// Cursors at both ends of the years they may name (1 to 9999).
		{"status=failed&after=-62135596800000000_0193a4c1-7d1e-7c4e-9d6b-2f1d9c1e0a11", true},
		{"status=failed&before=253402300799999999_0193a4c1-7d1e-7c4e-9d6b-2f1d9c1e0a11", true},
		{"=x", false},
		{"&", false},
	} {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			resp := b.page(t, "/?"+tt.query)
			require.Equal(t, http.StatusOK, resp.status, resp.body)
			require.Contains(t, resp.body, failed.ID.String())
			if tt.wantFailed {
				require.NotContains(t, resp.body, done.ID.String())
				require.Contains(t, resp.body, `<a href="/?status=failed" aria-current="page">failed</a>`)
			} else {
				require.Contains(t, resp.body, done.ID.String())
			}
		})
	}
}

// Paging newer than the newest row lands on the first page instead of an
// empty one.
func TestGalleryAfterNewestRedirects(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.insert(t, "only")

	resp := b.page(t, "/?status=queued&after=4102444800000000_0193a4c1-7d1e-7c4e-9d6b-2f1d9c1e0a11")
	require.Equal(t, http.StatusSeeOther, resp.status)
	require.Equal(t, "/?status=queued", resp.header.Get("Location"))
}

func TestStaticAssets(t *testing.T) {
	t.Parallel()
	b := setup(t)

	body := b.page(t, "/").body
	m := regexp.MustCompile(`src="(/static/easel\.js\?v=[0-9a-f]+)"`).FindStringSubmatch(body)
	require.NotNil(t, m, "the page links the versioned script")

	resp := b.page(t, m[1])
	require.Equal(t, http.StatusOK, resp.status)
	require.Contains(t, resp.header.Get("Content-Type"), "javascript")
	require.Equal(t, "public, max-age=31536000, immutable", resp.header.Get("Cache-Control"))
	require.Contains(t, resp.body, "reveal-label")

	resp = b.page(t, "/static/easel.css")
	require.Equal(t, http.StatusOK, resp.status)
	require.Contains(t, resp.header.Get("Content-Type"), "text/css")
	require.Equal(t, "no-cache", resp.header.Get("Cache-Control"), "an unversioned URL must be revalidated")

	require.Equal(t, http.StatusNotFound, b.page(t, "/static/missing.js").status)
}
