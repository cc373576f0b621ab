package web_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

const personKey = "easel_person_key_0123456789"

func (b *testBundle) postForm(t *testing.T, path string, form url.Values, origin string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(b.ctx, http.MethodPost, b.url+path, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	return b.do(t, req)
}

func TestGalleryAdmitsWhomTheAPIAdmits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insert(t, "private")
	b.open.Store(false)

	tests := []struct {
		name       string
		path       string
		header     http.Header
		wantStatus int
		wantHeader string // Location for redirects
	}{
		{"browser without session", "/generations/" + g.ID.String() + "?x=1", http.Header{"Accept": {"text/html"}},
			http.StatusSeeOther, "/login?next=%2Fgenerations%2F" + g.ID.String() + "%3Fx%3D1"},
		{"script without key", "/generations/" + g.ID.String() + "/state", http.Header{}, http.StatusUnauthorized, ""},
		{"bad session cookie", "/", http.Header{"Accept": {"text/html"}, "Cookie": {"easel_session=forged"}}, http.StatusSeeOther, "/login?next=%2F"},
		{"bearer key", "/", http.Header{"Authorization": {"Bearer " + bearerKey}}, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, b.url+tt.path, nil)
			require.NoError(t, err)
			req.Header = tt.header
			resp, err := http.DefaultTransport.RoundTrip(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, tt.wantStatus, resp.StatusCode)
			if tt.wantHeader != "" {
				require.Equal(t, tt.wantHeader, resp.Header.Get("Location"))
			}
		})
	}
}

func TestSignInAndOut(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.open.Store(false)
	b.createKey(t, "people", personKey)

	resp := b.page(t, "/login?next=/%3Fstatus%3Dfailed")
	require.Equal(t, http.StatusOK, resp.status)
	require.Contains(t, resp.body, `<label for="key">API key</label>`)
	require.Contains(t, resp.body, `name="next" value="/?status=failed"`)

	resp = b.postForm(t, "/login", url.Values{"key": {"easel_wrong"}, "next": {"/"}}, "")
	require.Equal(t, http.StatusUnauthorized, resp.status)
	require.Contains(t, resp.body, `role="alert">That key is not valid, or it was revoked.`)
	require.Contains(t, resp.body, `aria-invalid="true"`)

	resp = b.postForm(t, "/login", url.Values{"key": {" " + personKey + " "}, "next": {"/?status=failed"}}, b.url)
	require.Equal(t, http.StatusSeeOther, resp.status)
	require.Equal(t, "/?status=failed", resp.header.Get("Location"))
	cookie := resp.header.Get("Set-Cookie")
	require.Contains(t, cookie, "easel_session=")
	require.Contains(t, cookie, "HttpOnly")
	require.Contains(t, cookie, "SameSite=Lax")
	require.Contains(t, cookie, "Max-Age=43200")
	require.NotContains(t, cookie, personKey, "the cookie holds a session token, never the key")

	resp = b.page(t, "/")
	require.Equal(t, http.StatusOK, resp.status)
	require.Contains(t, resp.body, "Signed in with key <strong><bdi>people</bdi></strong>")

	resp = b.postForm(t, "/logout", nil, b.url)
	require.Equal(t, http.StatusSeeOther, resp.status)
	require.Equal(t, "/login", resp.header.Get("Location"))
	var sessions int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM web_sessions`).Scan(&sessions))
	require.Zero(t, sessions)
	require.Equal(t, http.StatusSeeOther, b.page(t, "/").status, "signed out")
}

// The session cookie is Secure whenever the browser reached Easel over
// HTTPS: as the request says (TLS, or a proxy's X-Forwarded-Proto), or as
// Easel's public URL says, for a proxy that terminates TLS and says
// nothing.
func TestSessionCookieSecure(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		publicURL  string
		forwarded  string // X-Forwarded-Proto
		wantSecure bool
	}{
		{name: "plain HTTP", publicURL: "http://easel.example", wantSecure: false},
		{name: "no public URL", wantSecure: false},
		{name: "proxy says https", publicURL: "http://easel.example", forwarded: "https", wantSecure: true},
		{name: "public URL is https", publicURL: "https://easel.example/prefix", wantSecure: true},
		{name: "public URL is HTTPS, any case", publicURL: "HTTPS://easel.example", wantSecure: true},
		{name: "both", publicURL: "https://easel.example", forwarded: "https", wantSecure: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupWithPublicURL(t, tt.publicURL)
			b.open.Store(false)
			b.createKey(t, "people", personKey)

			send := func(path string, form url.Values) response {
				req, err := http.NewRequestWithContext(b.ctx, http.MethodPost, b.url+path, strings.NewReader(form.Encode()))
				require.NoError(t, err)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if tt.forwarded != "" {
					req.Header.Set("X-Forwarded-Proto", tt.forwarded)
				}
				return b.do(t, req)
			}
			// Signing in sets the cookie, and signing out clears it: both
			// as Secure, or a browser would keep a Secure one.
			for _, resp := range []response{send("/login", url.Values{"key": {personKey}}), send("/logout", nil)} {
				require.Equal(t, http.StatusSeeOther, resp.status, resp.body)
				cookies := (&http.Response{Header: resp.header}).Cookies()
				require.Len(t, cookies, 1)
				require.Equal(t, "easel_session", cookies[0].Name)
				require.Equal(t, tt.wantSecure, cookies[0].Secure, resp.header.Get("Set-Cookie"))
			}
		})
	}
}

// The form carries next; the URL's query, which a link may have garbled,
// is not the form's to refuse.
func TestSignInIgnoresTheURLsQuery(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.open.Store(false)
	b.createKey(t, "people", personKey)

	for _, query := range []string{"?next=%zz", "?next=/a;b", "?%"} {
		t.Run(query, func(t *testing.T) {
			t.Parallel()
			resp := b.postForm(t, "/login"+query, url.Values{"key": {personKey}, "next": {"/?status=failed"}}, "")
			require.Equal(t, http.StatusSeeOther, resp.status, resp.body)
			require.Equal(t, "/?status=failed", resp.header.Get("Location"))
		})
	}
}

func TestSignInLogsTheConnectionsAddress(t *testing.T) {
	t.Parallel()
	const forwardedFor, realIP = "203.0.113.7", "198.51.100.9"
	tests := []struct {
		name       string
		key        string
		wantStatus int
		wantMsg    string
	}{
		{"signed in", personKey, http.StatusSeeOther, "gallery sign-in"},
		{"refused", "easel_wrong", http.StatusUnauthorized, "gallery sign-in refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.open.Store(false)
			b.createKey(t, "people", personKey)

			req, err := http.NewRequestWithContext(b.ctx, http.MethodPost, b.url+"/login", strings.NewReader(url.Values{"key": {tt.key}}.Encode()))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Forwarded-For", forwardedFor)
			req.Header.Set("X-Real-IP", realIP)
			require.Equal(t, tt.wantStatus, b.do(t, req).status)

			// The handler logs before it answers, so the line is there.
			lines := b.logs.Lines(t, tt.wantMsg)
			require.Len(t, lines, 1, b.logs.String())
			addr, ok := lines[0]["remote_addr"].(string)
			require.True(t, ok, "remote_addr is a string: %v", lines[0])
			host, _, err := net.SplitHostPort(addr)
			require.NoError(t, err, addr)
			require.Equal(t, "127.0.0.1", host, "the test server's client connects from loopback")
			require.NotContains(t, b.logs.String(), forwardedFor)
			require.NotContains(t, b.logs.String(), realIP)
		})
	}
}

func TestRevokingTheKeyEndsTheSession(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.open.Store(false)
	b.createKey(t, "people", personKey)

	require.Equal(t, http.StatusSeeOther, b.postForm(t, "/login", url.Values{"key": {personKey}}, "").status)
	require.Equal(t, http.StatusOK, b.page(t, "/").status)

	_, err := store.RevokeAPIKey(b.ctx, b.pool, "people")
	require.NoError(t, err)
	resp := b.page(t, "/")
	require.Equal(t, http.StatusSeeOther, resp.status)
	require.Contains(t, resp.header.Get("Set-Cookie"), "Max-Age=0", "the dead session's cookie is cleared")

	resp = b.postForm(t, "/login", url.Values{"key": {personKey}}, "")
	require.Equal(t, http.StatusUnauthorized, resp.status, "a revoked key cannot sign in")
}

func TestSignInRedirectsOnlyWithinEasel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.open.Store(false)
	b.createKey(t, "people", personKey)

	for _, next := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)", ""} {
		t.Run(next, func(t *testing.T) {
			t.Parallel()
			resp := b.postForm(t, "/login", url.Values{"key": {personKey}, "next": {next}}, "")
			require.Equal(t, http.StatusSeeOther, resp.status)
			require.Equal(t, "/", resp.header.Get("Location"))
		})
	}
}

// TestSignInFormIsBounded: POST /login needs no key and no session, so
// anyone who reaches the server can send it anything. It takes only what
// the page's form sends, URL-encoded and a few KiB, and refuses anything
// else before reading it (or, with no declared length, once past the
// bound): Echo's FormValue would parse a multipart body whole, 32 MiB in
// memory and the rest in temporary files. Each refusal signs nobody in,
// though the form holds a valid key.
func TestSignInFormIsBounded(t *testing.T) {
	t.Parallel()
	valid := url.Values{"key": {personKey}, "next": {"/"}}

	var multipartForm bytes.Buffer
	w := multipart.NewWriter(&multipartForm)
	require.NoError(t, w.WriteField("next", "/"))
	part, err := w.CreateFormFile("padding", "padding.bin")
	require.NoError(t, err)
	_, err = part.Write(bytes.Repeat([]byte{'x'}, 1<<20))
	require.NoError(t, err)
	require.NoError(t, w.WriteField("key", personKey))
	require.NoError(t, w.Close())

	padded := url.Values{"key": {personKey}, "next": {"/"}, "padding": {strings.Repeat("x", 1<<20)}}.Encode()
	for _, tt := range []struct {
		name        string
		contentType string
		body        string
		undeclared  bool // sent chunked, without Content-Length
		wantStatus  int
		wantError   string
	}{
		{name: "multipart", contentType: w.FormDataContentType(), body: multipartForm.String(),
			wantStatus: http.StatusUnsupportedMediaType, wantError: "application/x-www-form-urlencoded"},
		{name: "JSON", contentType: "application/json", body: `{"key": "` + personKey + `"}`,
			wantStatus: http.StatusUnsupportedMediaType, wantError: "application/x-www-form-urlencoded"},
		{name: "text/plain", contentType: "text/plain", body: valid.Encode(),
			wantStatus: http.StatusUnsupportedMediaType, wantError: "application/x-www-form-urlencoded"},
		{name: "no Content-Type", body: valid.Encode(),
			wantStatus: http.StatusUnsupportedMediaType, wantError: "application/x-www-form-urlencoded"},
		{name: "too large, declared", contentType: "application/x-www-form-urlencoded", body: padded,
			wantStatus: http.StatusRequestEntityTooLarge, wantError: "too large"},
		{name: "too large, chunked", contentType: "application/x-www-form-urlencoded", body: padded, undeclared: true,
			wantStatus: http.StatusRequestEntityTooLarge, wantError: "too large"},
		{name: "not URL-encoded", contentType: "application/x-www-form-urlencoded", body: "key=%zz",
			wantStatus: http.StatusBadRequest, wantError: "could not be read"},
		{name: "the page's form, with a charset", contentType: "application/x-www-form-urlencoded; charset=UTF-8", body: valid.Encode(),
			wantStatus: http.StatusSeeOther},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.open.Store(false)
			b.createKey(t, "people", personKey)

			var body io.Reader = strings.NewReader(tt.body)
			if tt.undeclared {
				body = io.MultiReader(body) // hides the length, so the client sends it chunked
			}
			req, err := http.NewRequestWithContext(b.ctx, http.MethodPost, b.url+"/login", body)
			require.NoError(t, err)
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp := b.do(t, req)
			require.Equal(t, tt.wantStatus, resp.status, resp.body)
			require.LessOrEqual(t, b.bodyRead.Load(), int64(8<<10), "the server read more of the form than a sign-in needs")

			var sessions int
			require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM web_sessions`).Scan(&sessions))
			if tt.wantStatus == http.StatusSeeOther {
				require.Equal(t, 1, sessions)
				return
			}
			require.Zero(t, sessions)
			require.Contains(t, resp.body, `role="alert">`)
			require.Contains(t, resp.body, tt.wantError)
		})
	}
}

func TestSignInRefusesCrossOriginPosts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createKey(t, "people", personKey)

	for _, path := range []string{"/login", "/logout"} {
		resp := b.postForm(t, path, url.Values{"key": {personKey}}, "https://evil.example")
		require.Equal(t, http.StatusForbidden, resp.status, path)
	}
}

func TestRequireSessionGuardsOtherPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.open.Store(false)
	b.createKey(t, "people", personKey)

	// Signed out: a browser is sent to sign in, a script gets a 401.
	resp := b.page(t, "/elsewhere/jobs")
	require.Equal(t, http.StatusSeeOther, resp.status)
	require.Equal(t, "/login?next=%2Felsewhere%2Fjobs", resp.header.Get("Location"))
	req, err := http.NewRequestWithContext(b.ctx, http.MethodPost, b.url+"/elsewhere/api/cancel", nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, b.do(t, req).status)

	require.Equal(t, http.StatusSeeOther, b.postForm(t, "/login", url.Values{"key": {personKey}}, "").status)
	for _, tt := range []struct {
		name       string
		method     string
		origin     string
		wantStatus int
	}{
		{"page", http.MethodGet, "", http.StatusOK},
		{"same-origin change", http.MethodPost, b.url, http.StatusOK},
		{"change without Origin (not a browser)", http.MethodPost, "", http.StatusOK},
		{"cross-origin change", http.MethodPost, "https://evil.example", http.StatusForbidden},
		{"cross-origin page", http.MethodGet, "https://evil.example", http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(b.ctx, tt.method, b.url+"/elsewhere/api/cancel", nil)
			require.NoError(t, err)
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			require.Equal(t, tt.wantStatus, b.do(t, req).status)
		})
	}
}
