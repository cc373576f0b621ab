package web_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

func TestDetailCompleted(t *testing.T) {
	t.Parallel()
	b := setup(t)

	g := b.insert(t, "a lighthouse at dusk")
	_, err := store.MarkSubmitting(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	for _, e := range []store.WebhookEvent{
		{GenerationID: &g.ID, Body: []byte("x"), BodySize: 1, SignatureError: "no key with kid", Outcome: store.OutcomeBadSignature},
		{GenerationID: &g.ID, FalRequestID: "req-1", Body: []byte("{}"), BodySize: 2, SignatureValid: true, Outcome: store.OutcomeApplied},
	} {
		_, err := store.InsertWebhookEvent(b.ctx, b.pool, e)
		require.NoError(t, err)
	}
	b.complete(t, g.ID,
		store.Image{Position: 0, URL: "https://cdn.example/0.png", ContentType: "image/png", FileName: "0.png", FileSize: 18734, Width: 1024, Height: 768, NSFW: new(false)},
		store.Image{Position: 1, URL: "https://cdn.example/1.png", Width: 1024, Height: 768, NSFW: new(true)},
	)

	resp := b.page(t, "/generations/"+g.ID.String())
	require.Equal(t, http.StatusOK, resp.status)
	body := resp.body

	require.Contains(t, body, `<h1 dir="auto">a lighthouse at dusk</h1>`)
	require.Contains(t, body, "<span>client <strong><bdi>tests</bdi></strong></span>")
	require.Contains(t, body, `<span id="status" class="badge status-completed">completed</span>`)
	require.NotContains(t, body, "data-poll", "a finished generation is not polled")

	// Every image at full size, with its dimensions and size.
	// The heading names the prompt; each image's alt says which it is.
	require.Contains(t, body, `<img src="https://cdn.example/0.png" alt="Generated image 1 of 2" referrerpolicy="no-referrer" width="1024" height="768">`)
	require.Contains(t, body, `alt="Generated image 2 of 2, flagged as possibly NSFW"`)
	require.Contains(t, body, "1024 × 768 px · 18.3 KiB · image/png")
	require.Equal(t, 1, count(body, `<button type="button" class="reveal"><span class="reveal-label">Reveal</span><span class="visually-hidden"> possibly NSFW image 2</span></button>`))

	// The input, fal's ids, the timings.
	require.Contains(t, body, `<dt>Prompt</dt><dd dir="auto">a lighthouse at dusk</dd>`)
	require.Contains(t, body, "<dt>Seed</dt><dd>17454220438242315174</dd>")
	require.Contains(t, body, "type PyraCanny, weight 1, stop at 1")
	require.Contains(t, body, `<dt>Request id</dt><dd><code>req-`+g.ID.String()[:8]+`</code></dd>`)
	require.Contains(t, body, "<dt>Inference (fal)</dt><dd>1.3 s</dd>")
	require.Contains(t, body, "<dt>fal timing: inference</dt>")

	// The timeline, in order.
	titles := regexp.MustCompile(`</time>\s*<strong>([^<]+)</strong>`).FindAllStringSubmatch(body, -1)
	var got []string
	for _, m := range titles {
		got = append(got, m[1])
	}
	require.Equal(t, []string{"Enqueued", "Submitting to fal", "Webhook received", "Webhook received", "Completed"}, got)
	require.Contains(t, body, "signature invalid (no key with kid) · outcome bad_signature · 1 B")
	require.Contains(t, body, "signature valid · outcome applied · 2 B")
	require.Contains(t, body, "2 image(s)")
}

func TestDetailFailed(t *testing.T) {
	t.Parallel()
	b := setup(t)

	g := b.insert(t, "")
	_, err := store.Fail(b.ctx, b.pool, g.ID, "fal_validation", "image_prompt_1.image_url: could not fetch")
	require.NoError(t, err)

	body := b.page(t, "/generations/"+g.ID.String()).body
	require.Contains(t, body, "<h1>Untitled generation</h1>")
	require.Contains(t, body, `<h2 id="error-title">Error</h2>`)
	require.Contains(t, body, "<code>fal_validation</code> image_prompt_1.image_url: could not fetch")
	require.Contains(t, body, "<strong>Failed</strong> <span>fal_validation: image_prompt_1.image_url: could not fetch</span>")
	require.Contains(t, body, "This generation has no images.")
}

func TestDetailPendingIsPolled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insert(t, "soon")

	body := b.page(t, "/generations/"+g.ID.String()).body
	m := regexp.MustCompile(`data-poll="([^"]+)" data-status="([^"]+)"`).FindStringSubmatch(body)
	require.NotNil(t, m, "a pending page carries what its script polls, and the status it reloads on a change of")
	require.Equal(t, "/generations/"+g.ID.String()+"/state", m[1])
	require.Equal(t, "queued", m[2])
	// Without JavaScript the page offers a link rather than refreshing
	// itself under the reader (WCAG F41).
	require.NotContains(t, body, "http-equiv")
	require.Contains(t, body, `<noscript>
  Without JavaScript it cannot: <a href="/generations/`+g.ID.String()+`">Refresh</a></noscript></p>`)

	state := func() map[string]any {
		req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, b.url+m[1], nil)
		require.NoError(t, err)
		resp := b.do(t, req)
		require.Equal(t, http.StatusOK, resp.status, resp.body)
		var s map[string]any
		require.NoError(t, json.Unmarshal([]byte(resp.body), &s))
		return s
	}
	first := state()
	require.Equal(t, "queued", first["status"])
	require.Equal(t, false, first["terminal"])
	require.NotEmpty(t, first["version"])

	b.complete(t, g.ID, store.Image{URL: "https://cdn.example/0.png"})
	s := state()
	require.Equal(t, "completed", s["status"])
	require.Equal(t, true, s["terminal"])
	require.NotEqual(t, first["version"], s["version"])
}

// An image whose NSFW flag fal did not send is blurred as a flagged one is,
// and says that its flag is unknown rather than calling it clean.
func TestDetailUnknownNSFWBlurred(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insert(t, "a harbour at night")
	b.complete(t, g.ID, store.Image{URL: "https://cdn.example/0.png"}, store.Image{Position: 1, URL: "https://cdn.example/1.png", NSFW: new(false)})

	body := b.page(t, "/generations/"+g.ID.String()).body
	require.Equal(t, 1, count(body, `class="media nsfw"`))
	require.Contains(t, body, `alt="Generated image 1 of 2, not known whether NSFW"`)
	require.Contains(t, body, `alt="Generated image 2 of 2"`)
	require.Equal(t, 1, count(body, `<span class="visually-hidden"> possibly NSFW image 1</span>`))
	require.Equal(t, 1, count(body, `<span class="badge nsfw-badge">NSFW unknown</span>`))
	require.NotContains(t, body, `>NSFW</span>`)
}

// A submitted generation fal still holds shows, in its timeline, what fal
// said when Easel last asked, before the generation finishes and after.
func TestDetailShowsFalStatus(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insert(t, "slow at fal")
	_, err := store.MarkSubmitting(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	requestID := "req-" + g.ID.String()[:8]
	_, err = store.RecordSubmitted(b.ctx, b.pool, g.ID, store.Submission{RequestID: requestID})
	require.NoError(t, err)
	position := 3
	written, err := store.RecordFalStatus(b.ctx, b.pool, g.ID, requestID, "IN_QUEUE", &position)
	require.NoError(t, err)
	require.True(t, written)

	const entry = "<strong>Status from fal</strong> <span>IN_QUEUE, 3 request(s) ahead · fal&#39;s latest answer as Easel recorded it</span>"
	body := b.page(t, "/generations/"+g.ID.String()).body
	require.Contains(t, body, entry)

	b.complete(t, g.ID, store.Image{URL: "https://cdn.example/0.png"})
	body = b.page(t, "/generations/"+g.ID.String()).body
	require.NotContains(t, body, "Status from fal", "fal's COMPLETED is the Completed entry's")
	titles := regexp.MustCompile(`</time>\s*<strong>([^<]+)</strong>`).FindAllStringSubmatch(body, -1)
	var got []string
	for _, m := range titles {
		got = append(got, m[1])
	}
	require.Equal(t, []string{"Enqueued", "Submitting to fal", "Submitted to fal", "Completed"}, got)
}

func TestDetailNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t)

	for _, path := range []string{"/generations/0193a4c1-7d1e-7c4e-9d6b-2f1d9c1e0a11", "/generations/not-an-id"} {
		resp := b.page(t, path)
		require.Equal(t, http.StatusNotFound, resp.status)
		require.Contains(t, resp.body, "There is no generation")
	}
	// An id that is not one is quoted with Go's escapes, never echoed raw:
	// a NUL would show as U+FFFD, and a terminal escape would reach the
	// page.
	for path, want := range map[string]string{
		"/generations/not-an-id": "There is no generation &#34;not-an-id&#34;.",
		"/generations/%00":       `There is no generation &#34;\x00&#34;.`,
		"/generations/red%1B%07": `There is no generation &#34;red\x1b\a&#34;.`,
	} {
		resp := b.page(t, path)
		require.Equal(t, http.StatusNotFound, resp.status)
		require.Contains(t, resp.body, want)
		require.NotContains(t, resp.body, "\uFFFD")
		require.NotContains(t, resp.body, "\x00")
		require.NotContains(t, resp.body, "\x1b")
	}
	req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, b.url+"/generations/%00/state", nil)
	require.NoError(t, err)
	resp := b.do(t, req)
	require.Equal(t, http.StatusNotFound, resp.status)
	require.JSONEq(t, `{"error": {"code": "not_found", "message": "no generation \"\\x00\""}}`, resp.body)

	req, err = http.NewRequestWithContext(b.ctx, http.MethodGet, b.url+"/generations/0193a4c1-7d1e-7c4e-9d6b-2f1d9c1e0a11/state", nil)
	require.NoError(t, err)
	resp = b.do(t, req)
	require.Equal(t, http.StatusNotFound, resp.status)
	require.JSONEq(t, `{"error": {"code": "not_found", "message": "no generation 0193a4c1-7d1e-7c4e-9d6b-2f1d9c1e0a11"}}`, resp.body)
}
