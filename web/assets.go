package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"

	"github.com/labstack/echo/v4"
)

//go:embed static
var staticFS embed.FS

// assets are the embedded stylesheet and script. Pages link to them with a
// hash of their content in the URL, so browsers may cache them for good and
// still never use a stale copy after an upgrade.
type assets struct {
	files   map[string][]byte
	version map[string]string // name → content hash
}

func loadAssets() *assets {
	a := &assets{files: map[string][]byte{}, version: map[string]string{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		name := path.Base(p)
		a.files[name], a.version[name] = b, hex.EncodeToString(sum[:8])
		return nil
	})
	if err != nil {
		panic("web: read embedded assets: " + err.Error()) // the binary itself is broken
	}
	return a
}

// url returns the versioned URL of asset name.
func (a *assets) url(name string) string {
	v, ok := a.version[name]
	if !ok {
		panic("web: no embedded asset " + name) // a template bug, caught by any test that renders it
	}
	return "/static/" + name + "?v=" + v
}

func (a *assets) serve(c echo.Context) error {
	name := c.Param("name")
	b, ok := a.files[name]
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound, "no such asset")
	}
	h := c.Response().Header()
	if c.QueryParam("v") == a.version[name] {
		h.Set(echo.HeaderCacheControl, "public, max-age=31536000, immutable")
	} else {
		h.Set(echo.HeaderCacheControl, "no-cache")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", `"`+a.version[name]+`"`)
	if c.Request().Header.Get("If-None-Match") == `"`+a.version[name]+`"` {
		return c.NoContent(http.StatusNotModified)
	}
	return c.Blob(http.StatusOK, mime.TypeByExtension(path.Ext(name)), b)
}
