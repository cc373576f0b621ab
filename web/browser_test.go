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
	require.NoError(t, conn.Close(ctx))

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

	b := &browserBundle{ctx: browserCtx, baseURL: base, key: key, router: router}
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
	b.router.releaseHeld()
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
	require.Equal(t, "false", evaluate[string](t, b, `document.querySelector(".nsfw .reveal").getAttribute("aria-pressed")`))
	require.NotEmpty(t, evaluate[string](t, b, nsfwImage+`.alt`))

	b.step(t,
		chromedp.Click(chromedp.CSS(".nsfw .reveal")),
		chromedp.Poll[chromedp.Void](`getComputedStyle(`+nsfwImage+`).filter === "none"`),
	)
	require.Equal(t, "true", evaluate[string](t, b, `document.querySelector(".nsfw .reveal").getAttribute("aria-pressed")`))

	if os.Getenv("EASEL_UPDATE_SCREENSHOT") == "1" {
		b.screenshot(t, filepath.Join("..", "docs", "gallery.png"))
	}
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
