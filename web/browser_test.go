package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/serve"
)

// chromiumPath is where Debian's chromium package puts the browser; .ci/run
// installs it when it is missing.
const chromiumPath = "/usr/bin/chromium"

// Prompts of the browser test's generations. falRouter sends each to the
// simulator that gives it the wanted outcome.
const (
	promptPlain   = "a lighthouse at dusk, oil on canvas"
	promptNSFW    = "a harbour in the fog"
	promptFailing = "a city that fal refuses to draw"
	promptHeld    = "a quiet street at night"
)

// falRouter stands between Easel and several simulators: it sends each
// submission to the simulator its prompt names, and holds the submission of
// holdPrompt until release is closed, so that the test decides what every
// generation turns into and when the pending one moves on. Every other
// request goes to the simulator whose URL the client used, as the simulators
// build their URLs from the Host header the proxy sets.
type falRouter struct {
	routes     map[string]*url.URL // prompt → simulator
	fallback   *url.URL
	holdPrompt string
	held       chan struct{} // closed when the held submission has arrived
	heldOnce   sync.Once
	release    chan struct{} // closed by releaseHeld
	releaseOne sync.Once
}

// releaseHeld lets the held submission through to the simulator.
func (r *falRouter) releaseHeld() { r.releaseOne.Do(func() { close(r.release) }) }

func (r *falRouter) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	target := r.fallback
	if req.Method == http.MethodPost {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		var in struct {
			Prompt string `json:"prompt"`
		}
		_ = json.Unmarshal(body, &in) // an unparsable body goes to the fallback, which answers as fal would
		if u, ok := r.routes[in.Prompt]; ok {
			target = u
		}
		if in.Prompt == r.holdPrompt {
			r.heldOnce.Do(func() { close(r.held) })
			select {
			case <-r.release:
			case <-req.Context().Done():
				return
			}
		}
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }}
	proxy.ServeHTTP(w, req)
}

type browserBundle struct {
	ctx     context.Context // a chromedp context whose browser has started, signed in
	baseURL string
	key     string // an API key: with FAL_KEY set, the API is never open
	router  *falRouter
	db      *pgx.Conn // the server's database, for what no page or API can do
}

// setupBrowser runs a whole easel serve against simulators behind a
// falRouter, and a headless Chromium.
func setupBrowser(t *testing.T) *browserBundle {
	t.Helper()
	require.FileExists(t, chromiumPath, "the browser test needs Debian's chromium: apt-get install chromium (.ci/run does)")

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	// The same seed gives every simulator the same signing key, so the one
	// JWKS Easel trusts verifies them all.
	start := func(cfg falsim.Config) *falsim.Server {
		cfg.Seed = 7
		sim, err := falsim.Start(ctx, "127.0.0.1:0", cfg)
		require.NoError(t, err)
		t.Cleanup(sim.Close)
		return sim
	}
	plain := start(falsim.Config{})
	nsfw := start(falsim.Config{NSFWRate: 1})
	failing := start(falsim.Config{FailRate: 1})
	require.Equal(t, plain.Sim.PublicKey(), nsfw.Sim.PublicKey())

	mustURL := func(s string) *url.URL {
		u, err := url.Parse(s)
		require.NoError(t, err)
		return u
	}
	router := &falRouter{
		routes: map[string]*url.URL{
			promptNSFW:    mustURL(nsfw.URL),
			promptFailing: mustURL(failing.URL),
		},
		fallback:   mustURL(plain.URL),
		holdPrompt: promptHeld,
		held:       make(chan struct{}),
		release:    make(chan struct{}),
	}
	routerServer := &http.Server{Handler: router, ReadHeaderTimeout: 10 * time.Second}
	routerListener, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = routerServer.Serve(routerListener) }()
	t.Cleanup(func() { _ = routerServer.Close() })

	dbURL := dbtest.URL(t)
	cfg, err := serve.ConfigFromEnv(func(name string) string {
		switch name {
		case "DATABASE_URL":
			return dbURL
		case "EASEL_ADDR":
			return "127.0.0.1:0"
		case "FAL_KEY":
			return "browser-test-key"
		case "FAL_QUEUE_URL":
			return "http://" + routerListener.Addr().String()
		case "FAL_JWKS_URL":
			return plain.JWKSURL()
		}
		return ""
	})
	require.NoError(t, err)
	addr := make(chan string, 1)
	done := make(chan error, 1)
	serveCtx, stopServe := context.WithCancel(ctx)
	go func() {
		done <- serve.Run(serveCtx, cfg, slog.New(slog.DiscardHandler), func(a string) { addr <- a })
	}()
	t.Cleanup(func() {
		stopServe()
		require.NoError(t, <-done)
	})
	// Runs before the serve shutdown above: a held submission must not
	// outlive the test.
	t.Cleanup(router.releaseHeld)

	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("serve exited before it was ready: %v", err)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	key, _, err := api.CreateKey(ctx, conn, "gallery")
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 860),
	)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	// The first action starts the browser, which lives as long as the
	// context of that call: it must carry no deadline.
	require.NoError(t, chromedp.Do(browserCtx, chromedp.Navigate("about:blank")))

	b := &browserBundle{ctx: browserCtx, baseURL: base, key: key, router: router, db: conn}
	b.step(t,
		chromedp.Navigate(base+"/login"),
		chromedp.SendKeys(chromedp.CSS("#key"), key),
		chromedp.Submit(chromedp.CSS("#key")),
		chromedp.WaitVisible(chromedp.CSS("form.account")),
	)
	return b
}

// enqueue posts a generation to the /v1 API and returns its id.
func (b *browserBundle) enqueue(t *testing.T, input map[string]any) string {
	t.Helper()
	if _, ok := input["image_prompt_1"]; !ok {
		input["image_prompt_1"] = map[string]any{"image_url": "https://example.com/reference.png"}
	}
	body, err := json.Marshal(input)
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(b.ctx, http.MethodPost, b.baseURL+"/v1/generations", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+b.key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, string(raw))
	var g struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.Unmarshal(raw, &g))
	return g.ID
}

// step runs actions with a deadline.
func (b *browserBundle) step(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, actions...))
}

func evaluate[T any](t *testing.T, b *browserBundle, expression string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression))
	require.NoError(t, err)
	return v
}

// imagesRendered is true once every image matching selector has loaded and
// decoded to a real picture.
func imagesRendered(selector string, want int) string {
	return `(() => { const imgs = [...document.querySelectorAll(` + jsString(selector) + `)];
		return imgs.length === ` + jsInt(want) + ` && imgs.every(i => i.complete && i.naturalWidth > 0); })()`
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func jsInt(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// statePolls counts the requests the page has made to its /state URL.
const statePolls = `performance.getEntriesByType("resource").filter(e => e.name.endsWith("/state")).length`

// pressTabUntil presses Tab until the focused element matches selector.
func (b *browserBundle) pressTabUntil(t *testing.T, selector string) {
	t.Helper()
	for range 40 {
		b.step(t, chromedp.KeyEvent("\t"))
		if evaluate[bool](t, b, `document.activeElement.matches(`+jsString(selector)+`)`) {
			return
		}
	}
	t.Fatalf("Tab never reached %s", selector)
}

// generationStatus reads a generation's status from the database.
func (b *browserBundle) generationStatus(t *testing.T, id string) string {
	t.Helper()
	var status string
	require.NoError(t, b.db.QueryRow(b.ctx, `SELECT status FROM generations WHERE id = $1`, id).Scan(&status))
	return status
}

// noHorizontalOverflow is true when the page fits the viewport's width, so
// that nobody has to scroll sideways to read it (WCAG 1.4.10), and every
// control of the header is inside it.
const noHorizontalOverflow = `(() => {
	const width = document.documentElement.clientWidth;
	const controls = [...document.querySelectorAll("header.site a, header.site button")];
	return document.documentElement.scrollWidth <= width && controls.every(c => c.getBoundingClientRect().right <= width);
})()`

// TestBrowser drives the gallery in a real Chromium against a real easel
// serve: images render, an NSFW tile stays blurred until its button is
// pressed, a generation's page shows its timeline, and a pending page turns
// completed by itself.
func TestBrowser(t *testing.T) {
	t.Parallel()
	b := setupBrowser(t)

	plain := b.enqueue(t, map[string]any{"prompt": promptPlain, "num_images": 2})
	fox := b.enqueue(t, map[string]any{"prompt": "a fox in fresh snow", "num_images": 4, "aspect_ratio": "1152x896"})
	// With the safety checker off the simulator keeps the picture of a
	// flagged image instead of blanking it, as fal does.
	flagged := b.enqueue(t, map[string]any{"prompt": promptNSFW, "enable_safety_checker": false})
	failing := b.enqueue(t, map[string]any{"prompt": promptFailing})

	// The held generation stays queued while its submission waits in the
	// router: its page must turn completed without anyone reloading it.
	held := b.enqueue(t, map[string]any{"prompt": promptHeld})
	select {
	case <-b.router.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the held generation was never submitted")
	}
	b.step(t,
		chromedp.Navigate(b.baseURL+"/generations/"+held),
		chromedp.WaitVisible(chromedp.CSS("#status.status-queued")),
		chromedp.WaitVisible(chromedp.CSS(".live")),
	)
	// What a reload would lose: a mark on the window, an open <details>.
	evaluate[bool](t, b, `(() => { window.easelMark = true; document.querySelector("details").open = true; return true; })()`)
	// A change that leaves the status alone (as a webhook noted, or a
	// submit retried, would) changes /state's version but reloads nothing.
	_, err := b.db.Exec(b.ctx, `UPDATE generations SET updated_at = updated_at + interval '1 millisecond' WHERE id = $1`, held)
	require.NoError(t, err)
	polled := evaluate[int](t, b, statePolls)
	b.step(t, chromedp.Poll[chromedp.Void](statePolls+` >= `+jsInt(polled+2)))
	require.True(t, evaluate[bool](t, b, `window.easelMark === true && document.querySelector("details").open`), "the page reloaded")

	// Hidden, the page stops polling; shown again, it catches up at once.
	// (Headless Chromium never hides a page, so the test says it is hidden.)
	evaluate[bool](t, b, `(() => {
		Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
		document.dispatchEvent(new Event("visibilitychange"));
		return true; })()`)
	b.router.releaseHeld()
	require.Eventually(t, func() bool { return b.generationStatus(t, held) == "completed" }, 30*time.Second, 20*time.Millisecond)
	require.True(t, evaluate[bool](t, b, `window.easelMark === true`), "a hidden page polled and reloaded")
	evaluate[bool](t, b, `(() => {
		delete document.visibilityState;
		document.dispatchEvent(new Event("visibilitychange"));
		return true; })()`)
	b.step(t, chromedp.WaitVisible(chromedp.CSS("#status.status-completed")))
	b.step(t, chromedp.Poll[chromedp.Void](imagesRendered(".images img", 1)))
	timeline := evaluate[string](t, b, `document.querySelector(".timeline").innerText`)
	for _, want := range []string{"Enqueued", "Submitting to fal", "Submitted to fal", "Webhook received", "signature valid · outcome applied", "Completed"} {
		require.Contains(t, timeline, want)
	}
	require.Zero(t, evaluate[int](t, b, `document.querySelectorAll(".live").length`), "a finished page stops saying it updates")

	// Every other generation finishes too, each page updating by itself.
	for _, want := range []struct {
		id, status string
		images     int
	}{{plain, "completed", 2}, {fox, "completed", 4}, {flagged, "completed", 1}, {failing, "failed", 0}} {
		b.step(t,
			chromedp.Navigate(b.baseURL+"/generations/"+want.id),
			chromedp.WaitVisible(chromedp.CSS("#status.status-"+want.status)),
			chromedp.Poll[chromedp.Void](imagesRendered(".images img", want.images)),
		)
	}
	require.Contains(t, evaluate[string](t, b, `document.querySelector("section.error").innerText`), "no_media_generated")

	// The gallery: four thumbnails rendered, one of them blurred until
	// its Reveal button is pressed.
	b.step(t,
		chromedp.Navigate(b.baseURL+"/"),
		chromedp.WaitVisible(chromedp.CSS(".grid")),
		chromedp.Poll[chromedp.Void](imagesRendered(".tile img", 4)),
	)
	require.Equal(t, 5, evaluate[int](t, b, `document.querySelectorAll(".tile").length`))
	const nsfwImage = `document.querySelector(".tile .nsfw img")`
	require.Contains(t, evaluate[string](t, b, `getComputedStyle(`+nsfwImage+`).filter`), "blur(")
	require.Equal(t, "none", evaluate[string](t, b, `getComputedStyle(document.querySelector(".tile .media:not(.nsfw) img")).filter`))
	const reveal = `document.querySelector(".nsfw .reveal")`
	require.Equal(t, "Reveal possibly NSFW image", evaluate[string](t, b, reveal+`.textContent`))
	require.Empty(t, evaluate[string](t, b, nsfwImage+`.alt`), "the tile's heading names it")

	// The button says what it does: Reveal, then Hide.
	b.step(t,
		chromedp.Click(chromedp.CSS(".nsfw .reveal")),
		chromedp.Poll[chromedp.Void](`getComputedStyle(`+nsfwImage+`).filter === "none"`),
	)
	require.Equal(t, "Hide", evaluate[string](t, b, reveal+`.querySelector(".reveal-label").textContent`))
	require.Equal(t, "Hide possibly NSFW image", evaluate[string](t, b, reveal+`.textContent`))
	b.step(t,
		chromedp.Click(chromedp.CSS(".nsfw .reveal")),
		chromedp.Poll[chromedp.Void](`getComputedStyle(`+nsfwImage+`).filter.includes("blur(")`),
	)
	require.Equal(t, "Reveal", evaluate[string](t, b, reveal+`.querySelector(".reveal-label").textContent`))

	// Focus from the keyboard: the tile draws its title link's ring, which
	// the clamped heading would clip, and the Reveal button's ring is
	// white between black rings, visible over any image.
	b.step(t, chromedp.Navigate(b.baseURL+"/"), chromedp.WaitVisible(chromedp.CSS(".grid")))
	b.pressTabUntil(t, ".card-link")
	focusedTile := `document.activeElement.closest(".tile")`
	require.Equal(t, "solid 3px", evaluate[string](t, b, `(s => s.outlineStyle + " " + s.outlineWidth)(getComputedStyle(`+focusedTile+`))`))
	require.Equal(t, "none", evaluate[string](t, b, `getComputedStyle(document.activeElement).outlineStyle`))
	b.pressTabUntil(t, ".reveal")
	require.Equal(t, "rgb(255, 255, 255) solid 3px", evaluate[string](t, b,
		`(s => s.outlineColor + " " + s.outlineStyle + " " + s.outlineWidth)(getComputedStyle(document.activeElement))`))
	require.Contains(t, evaluate[string](t, b, `getComputedStyle(document.activeElement).boxShadow`), "rgb(0, 0, 0)")

	// Reflow (WCAG 1.4.10): signed in, on a phone's width, no page scrolls
	// sideways and the header's controls, Sign out among them, stay in view.
	for _, width := range []int64{375, 320} {
		b.step(t, chromedp.EmulateViewport(width, 640))
		for _, path := range []string{"/", "/?status=failed", "/generations/" + fox, "/generations/" + failing, "/generations/" + flagged} {
			b.step(t, chromedp.Navigate(b.baseURL+path), chromedp.WaitVisible(chromedp.CSS("form.account")))
			require.True(t, evaluate[bool](t, b, noHorizontalOverflow), "%s overflows at %d px: scrollWidth %d", path, width,
				evaluate[int](t, b, `document.documentElement.scrollWidth`))
		}
	}
	b.step(t, chromedp.EmulateViewport(1280, 860))

	if os.Getenv("EASEL_UPDATE_SCREENSHOT") == "1" {
		b.screenshot(t, filepath.Join("..", "docs", "gallery.png"))
	}

	// Signed out while a pending page polls: it stops, and says so.
	later := b.enqueue(t, map[string]any{"prompt": "a harbour at dawn", "run_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	b.step(t,
		chromedp.Navigate(b.baseURL+"/generations/"+later),
		chromedp.WaitVisible(chromedp.CSS("#status.status-queued")),
	)
	_, err = b.db.Exec(b.ctx, `DELETE FROM web_sessions`)
	require.NoError(t, err)
	b.step(t, chromedp.Poll[chromedp.Void](`document.querySelector(".live").textContent === "Signed out: reload to sign in."`))
	require.Equal(t, "status", evaluate[string](t, b, `document.querySelector(".live").getAttribute("role")`))
}

// screenshot writes the gallery as a newcomer first sees it (EASEL_UPDATE_SCREENSHOT=1
// go test -run TestBrowser ./web refreshes docs/gallery.png).
func (b *browserBundle) screenshot(t *testing.T, path string) {
	t.Helper()
	b.step(t,
		chromedp.EmulateViewport(1280, 760),
		chromedp.Navigate(b.baseURL+"/"),
		chromedp.Poll[chromedp.Void](imagesRendered(".tile img", 4)),
	)
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("wrote %s (%d bytes)", path, len(png))
}
