package falsim

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// gradients are the colour pairs (top, bottom) of generated images; the plan
// picks one per request so a gallery of simulated results is not monotonous.
var gradients = [][2]color.RGBA{
	{{0x1d, 0x35, 0x57, 0xff}, {0xe6, 0x39, 0x46, 0xff}},
	{{0x26, 0x46, 0x53, 0xff}, {0xe9, 0xc4, 0x6a, 0xff}},
	{{0x3a, 0x0c, 0xa3, 0xff}, {0x4c, 0xc9, 0xf0, 0xff}},
	{{0x00, 0x6d, 0x77, 0xff}, {0xff, 0xdd, 0xd2, 0xff}},
	{{0x2b, 0x2d, 0x42, 0xff}, {0xed, 0xf2, 0xf4, 0xff}},
	{{0x60, 0x6c, 0x38, 0xff}, {0xfe, 0xfa, 0xe0, 0xff}},
	{{0x5f, 0x0f, 0x40, 0xff}, {0xfb, 0x8b, 0x24, 0xff}},
	{{0x14, 0x21, 0x3d, 0xff}, {0xfc, 0xa3, 0x11, 0xff}},
}

// blackVariant is the image fal's safety checker substitutes for an NSFW one.
var blackVariant = len(gradients)

// imageFile identifies one generated image. Everything needed to render it is
// in its URL path, so files stay servable across restarts of the simulator.
type imageFile struct {
	width, height int
	variant       int
	name          string
}

func (f imageFile) key() imageKey { return imageKey{f.width, f.height, f.variant} }

func (f imageFile) path() string {
	return fmt.Sprintf("/files/%dx%d/%d/%s", f.width, f.height, f.variant, f.name)
}

type imageKey struct{ width, height, variant int }

// imageCache holds encoded PNGs by size and variant: every request of the
// same size shares the bytes, so file_size is known before a file is fetched.
type imageCache struct {
	mu    sync.Mutex
	byKey map[imageKey][]byte
}

// maxCachedImages bounds the cache; sizes are client-chosen.
const maxCachedImages = 64

func newImageCache() *imageCache { return &imageCache{byKey: make(map[imageKey][]byte)} }

func (c *imageCache) get(k imageKey) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.byKey[k]; ok {
		return b, nil
	}
	b, err := renderPNG(k)
	if err != nil {
		return nil, err
	}
	if len(c.byKey) >= maxCachedImages {
		clear(c.byKey)
	}
	c.byKey[k] = b
	return b, nil
}

// renderPNG draws a vertical gradient, or a black image for blackVariant.
// A paletted image with constant rows keeps encoding cheap at full size.
func renderPNG(k imageKey) ([]byte, error) {
	var palette color.Palette
	if k.variant == blackVariant {
		palette = color.Palette{color.RGBA{0, 0, 0, 0xff}}
	} else {
		top, bottom := gradients[k.variant][0], gradients[k.variant][1]
		palette = make(color.Palette, 256)
		for i := range palette {
			mix := func(a, b uint8) uint8 { return uint8((int(a)*(255-i) + int(b)*i) / 255) }
			palette[i] = color.RGBA{mix(top.R, bottom.R), mix(top.G, bottom.G), mix(top.B, bottom.B), 0xff}
		}
	}
	img := image.NewPaletted(image.Rect(0, 0, k.width, k.height), palette)
	for y := range k.height {
		shade := uint8(y * (len(palette) - 1) / max(k.height-1, 1))
		row := img.Pix[y*img.Stride : y*img.Stride+k.width]
		for x := range row {
			row[x] = shade
		}
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode %dx%d png: %w", k.width, k.height, err)
	}
	return buf.Bytes(), nil
}

// serveFile serves GET /files/{size}/{variant}/{name}.
func (s *Sim) serveFile(w http.ResponseWriter, r *http.Request) {
	width, height, ok := parseSize(r.PathValue("size"))
	variant, err := strconv.Atoi(r.PathValue("variant"))
	name := r.PathValue("name")
	if !ok || err != nil || variant < 0 || variant > blackVariant || !strings.HasSuffix(name, ".png") {
		writeJSON(w, http.StatusNotFound, detailBody{Detail: "File not found"})
		return
	}
	b, err := s.images.get(imageKey{width, height, variant})
	if err != nil {
		s.logger.Error("render image", "path", r.URL.Path, "error", err)
		writeJSON(w, http.StatusInternalServerError, detailBody{Detail: "Internal server error"})
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}
