package falsim

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http"
	"slices"
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

// imageFormat is a value of the model's output_format, which is also the
// extension of the files in that format.
type imageFormat string

const (
	formatJPEG imageFormat = "jpeg"
	formatPNG  imageFormat = "png"
	formatWebP imageFormat = "webp"
)

// defaultFormat is output_format's default on fal.
const defaultFormat = formatJPEG

// imageFormats are output_format's values, in the order of fal's schema.
var imageFormats = []imageFormat{formatPNG, formatJPEG, formatWebP}

func (f imageFormat) contentType() string { return "image/" + string(f) }

// jpegQuality is the quality of the JPEG files. Encoding is deterministic,
// so a file's bytes, and the file_size reported before it is fetched, never
// change.
const jpegQuality = 90

// imageFile identifies one generated image. Everything needed to render it is
// in its URL path, so files stay servable across restarts of the simulator.
type imageFile struct {
	width, height int
	variant       int
	format        imageFormat
	name          string // with the format's extension
}

func (f imageFile) key() imageKey { return imageKey{f.width, f.height, f.variant, f.format} }

// path is the file's path below the files base URL (Config.FilesURL).
func (f imageFile) path() string {
	return fmt.Sprintf("/%dx%d/%d/%s", f.width, f.height, f.variant, f.name)
}

type imageKey struct {
	width, height, variant int
	format                 imageFormat
}

// imageCache holds encoded images by size, variant and format: every request
// of the same size and format shares the bytes, so file_size is known before
// a file is fetched.
type imageCache struct {
	// render is renderImage; tests replace it to hold a render in flight.
	render func(imageKey) ([]byte, error)

	mu sync.Mutex
	// Renders run outside mu, so that a large one does not stall every
	// request for another key; rendering de-duplicates concurrent gets of
	// one key.
	byKey     map[imageKey][]byte
	rendering map[imageKey]*inflightRender
}

type inflightRender struct {
	done chan struct{} // closed when b and err are set
	b    []byte
	err  error
}

// maxCachedImages bounds the cache; sizes are client-chosen.
const maxCachedImages = 64

func newImageCache() *imageCache {
	return &imageCache{
		render:    renderImage,
		byKey:     make(map[imageKey][]byte),
		rendering: make(map[imageKey]*inflightRender),
	}
}

func (c *imageCache) get(k imageKey) ([]byte, error) {
	c.mu.Lock()
	if b, ok := c.byKey[k]; ok {
		c.mu.Unlock()
		return b, nil
	}
	if r, ok := c.rendering[k]; ok {
		c.mu.Unlock()
		<-r.done
		return r.b, r.err
	}
	r := &inflightRender{done: make(chan struct{})}
	c.rendering[k] = r
	c.mu.Unlock()

	// Deferred so that the waiters are released even if render panics.
	r.err = fmt.Errorf("render %dx%d %s image: renderer panicked", k.width, k.height, k.format)
	defer func() {
		c.mu.Lock()
		delete(c.rendering, k)
		if r.err == nil {
			if len(c.byKey) >= maxCachedImages {
				clear(c.byKey)
			}
			c.byKey[k] = r.b
		}
		c.mu.Unlock()
		close(r.done)
	}()
	r.b, r.err = c.render(k)
	return r.b, r.err
}

// renderImage draws a vertical gradient, or a black image for blackVariant,
// and encodes it in k's format. Every row is one colour, one of a palette
// of at most 256, which keeps encoding cheap at full size. A WebP image is
// the palette's middle colour throughout, since only a solid colour keeps
// the simulator's WebP encoder minimal.
func renderImage(k imageKey) ([]byte, error) {
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
	shades := make([]uint8, k.height)
	for y := range shades {
		shades[y] = uint8(y * (len(palette) - 1) / max(k.height-1, 1))
	}

	var buf bytes.Buffer
	switch k.format {
	case formatPNG:
		img := image.NewPaletted(image.Rect(0, 0, k.width, k.height), palette)
		for y, shade := range shades {
			row := img.Pix[y*img.Stride : y*img.Stride+k.width]
			for x := range row {
				row[x] = shade
			}
		}
		enc := png.Encoder{CompressionLevel: png.BestSpeed}
		if err := enc.Encode(&buf, img); err != nil {
			return nil, fmt.Errorf("encode %dx%d png: %w", k.width, k.height, err)
		}
	case formatJPEG:
		// YCbCr is the encoder's own colour space: no conversion per pixel.
		img := image.NewYCbCr(image.Rect(0, 0, k.width, k.height), image.YCbCrSubsampleRatio420)
		for y, shade := range shades {
			c := palette[shade].(color.RGBA)
			luma, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
			fill(img.Y[y*img.YStride:y*img.YStride+k.width], luma)
			if y%2 == 0 {
				cy := y / 2
				fill(img.Cb[cy*img.CStride:(cy+1)*img.CStride], cb)
				fill(img.Cr[cy*img.CStride:(cy+1)*img.CStride], cr)
			}
		}
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: jpegQuality}); err != nil {
			return nil, fmt.Errorf("encode %dx%d jpeg: %w", k.width, k.height, err)
		}
	case formatWebP:
		// One colour, the gradient's middle, codes in zero bits per pixel.
		buf.Write(encodeSolidWebP(k.width, k.height, palette[len(palette)/2].(color.RGBA)))
	default:
		return nil, fmt.Errorf("render %dx%d image: unknown format %q", k.width, k.height, k.format)
	}
	return buf.Bytes(), nil
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}

// FilesHandler serves the generated images, GET /{W}x{H}/{variant}/{name}
// below the base URL of the files (Config.FilesURL). The simulator's own
// Handler serves them under /files/; mount this one, with the prefix
// stripped, to serve them from another server, as easel serve does.
//
// A file is rendered from its path alone, so the handler of any Sim serves
// every file any Sim ever returned.
func (s *Sim) FilesHandler() http.Handler { return http.HandlerFunc(s.serveFile) }

// serveFile serves GET /{size}/{variant}/{name}.{format}.
func (s *Sim) serveFile(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r, http.MethodGet) {
		return
	}
	k, ok := parseFilePath(r.URL.Path)
	if !ok {
		writeJSON(w, http.StatusNotFound, detailBody{Detail: "File not found"})
		return
	}
	b, err := s.images.get(k)
	if err != nil {
		s.logger.Error("render image", "path", r.URL.Path, "error", err)
		writeJSON(w, http.StatusInternalServerError, detailBody{Detail: "Internal server error"})
		return
	}
	w.Header().Set("Content-Type", k.format.contentType())
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

// parseFilePath parses the path of an imageFile.
func parseFilePath(p string) (imageKey, bool) {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if len(parts) != 3 {
		return imageKey{}, false
	}
	width, height, ok := parseSize(parts[0])
	variant, err := strconv.Atoi(parts[1])
	base, ext, dotted := cutLast(parts[2], ".")
	format := imageFormat(ext)
	if !ok || err != nil || variant < 0 || variant > blackVariant || !dotted || base == "" || !slices.Contains(imageFormats, format) {
		return imageKey{}, false
	}
	return imageKey{width, height, variant, format}, true
}

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}
