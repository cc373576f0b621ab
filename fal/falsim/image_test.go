package falsim_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	stdimage "image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
)

func TestImages(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name          string
		cfg           falsim.Config
		input         string
		width, height int
		count         int
		format        string // output_format: the extension and image/<format>
		wantNSFW      bool
		wantBlack     bool
	}{
		{
			name:  "defaults: jpeg, as fal",
			input: validInput,
			width: 1024, height: 1024, count: 1, format: "jpeg",
		},
		{
			name:  "aspect ratio, count and png",
			input: `{"image_prompt_1": {}, "aspect_ratio": "832x1216", "num_images": 2, "output_format": "png"}`,
			width: 832, height: 1216, count: 2, format: "png",
		},
		{
			name:  "webp",
			input: `{"image_prompt_1": {}, "aspect_ratio": "640x320", "output_format": "webp"}`,
			width: 640, height: 320, count: 1, format: "webp",
		},
		{
			name:  "explicit jpeg",
			input: `{"image_prompt_1": {}, "aspect_ratio": "320x640", "output_format": "jpeg"}`,
			width: 320, height: 640, count: 1, format: "jpeg",
		},
		{
			name:  "nsfw blanked by the safety checker, png",
			cfg:   falsim.Config{NSFWRate: 1},
			input: `{"image_prompt_1": {}, "aspect_ratio": "640x320", "num_images": 3, "output_format": "png"}`,
			width: 640, height: 320, count: 3, format: "png", wantNSFW: true, wantBlack: true,
		},
		{
			name:  "nsfw blanked by the safety checker, jpeg",
			cfg:   falsim.Config{NSFWRate: 1},
			input: `{"image_prompt_1": {}, "aspect_ratio": "640x320"}`,
			width: 640, height: 320, count: 1, format: "jpeg", wantNSFW: true, wantBlack: true,
		},
		{
			name:  "nsfw blanked by the safety checker, webp",
			cfg:   falsim.Config{NSFWRate: 1},
			input: `{"image_prompt_1": {}, "aspect_ratio": "640x320", "output_format": "webp"}`,
			width: 640, height: 320, count: 1, format: "webp", wantNSFW: true, wantBlack: true,
		},
		{
			name:  "nsfw kept without the safety checker",
			cfg:   falsim.Config{NSFWRate: 1},
			input: `{"image_prompt_1": {}, "aspect_ratio": "320x640", "enable_safety_checker": false}`,
			width: 320, height: 640, count: 1, format: "jpeg", wantNSFW: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.cfg, setupOpts{})
			sr := b.submit(t, tt.input, "")
			b.awaitCompleted(t, sr.StatusURL)
			out := b.result(t, sr.ResponseURL)

			require.Len(t, out.Images, tt.count)
			require.Len(t, out.HasNSFWConcepts, tt.count)
			for i, img := range out.Images {
				require.Equal(t, tt.wantNSFW, out.HasNSFWConcepts[i])
				require.Equal(t, "image/"+tt.format, img.ContentType)
				require.Equal(t, tt.width, img.Width)
				require.Equal(t, tt.height, img.Height)
				require.Equal(t, path.Base(img.URL), img.FileName)
				require.True(t, strings.HasSuffix(img.FileName, "."+tt.format), img.FileName)
				require.Contains(t, img.URL, b.url+"/files/")

				resp, body := doRequest(t, http.MethodGet, img.URL, "", "")
				require.Equal(t, http.StatusOK, resp.StatusCode)
				require.Equal(t, img.ContentType, resp.Header.Get("Content-Type"))
				require.Len(t, body, img.FileSize)
				width, height, black := decodeImage(t, tt.format, body)
				require.Equal(t, tt.width, width)
				require.Equal(t, tt.height, height)
				require.Equal(t, tt.wantBlack, black)
			}
		})
	}
}

// decodeImage checks that body is an image in format and returns its size
// and whether its centre is black. The standard library has no WebP decoder:
// for "webp" it reads the size and colour from the VP8L headers.
func decodeImage(t *testing.T, format string, body []byte) (width, height int, black bool) {
	t.Helper()
	var (
		img stdimage.Image
		err error
	)
	switch format {
	case "png":
		img, err = png.Decode(bytes.NewReader(body))
	case "jpeg":
		img, err = jpeg.Decode(bytes.NewReader(body))
	case "webp":
		w, h := webpSize(t, body)
		return w, h, solidWebPColour(t, body) == color.RGBA{0, 0, 0, 0xff}
	default:
		t.Fatalf("unknown format %q", format)
	}
	require.NoError(t, err)
	r, g, bl, _ := img.At(img.Bounds().Dx()/2, img.Bounds().Dy()/2).RGBA()
	// JPEG's quantization may leave a black image a shade above zero.
	const darkest = 4 << 8
	require.Equal(t, format, imageFormat(t, body), "the bytes match the content type")
	return img.Bounds().Dx(), img.Bounds().Dy(), r < darkest && g < darkest && bl < darkest
}

// imageFormat is the format stdimage.DecodeConfig recognises in body.
func imageFormat(t *testing.T, body []byte) string {
	t.Helper()
	_, format, err := stdimage.DecodeConfig(bytes.NewReader(body))
	require.NoError(t, err)
	return format
}

// webpSize checks the RIFF and VP8L headers of a lossless WebP file (RFC
// 9649) and returns the image's size.
func webpSize(t *testing.T, body []byte) (width, height int) {
	t.Helper()
	require.GreaterOrEqual(t, len(body), 25)
	require.Equal(t, "RIFF", string(body[0:4]))
	require.Equal(t, len(body)-8, int(binary.LittleEndian.Uint32(body[4:8])), "RIFF size")
	require.Equal(t, "WEBPVP8L", string(body[8:16]))
	chunk := int(binary.LittleEndian.Uint32(body[16:20]))
	require.Equal(t, len(body)-20, chunk+chunk%2, "VP8L chunk size, padded to even")
	require.Equal(t, byte(0x2f), body[20], "VP8L signature")
	header := binary.LittleEndian.Uint32(body[21:25])
	require.Zero(t, header>>29, "VP8L version")
	return int(header&0x3fff) + 1, int(header>>14&0x3fff) + 1
}

// With FilesURL set, image URLs point there, and FilesHandler mounted below
// it serves them, from any Sim: files are rendered from their path alone, so
// a URL outlives the simulator that returned it.
func TestFilesURL(t *testing.T) {
	t.Parallel()

	serveFiles := func(sim *falsim.Sim) *httptest.Server {
		mux := http.NewServeMux()
		mux.Handle("/_sim/files/", http.StripPrefix("/_sim/files", sim.FilesHandler()))
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		return srv
	}

	b := setup(t, falsim.Config{FilesURL: "http://easel.example:8080/_sim/files/"}, setupOpts{})
	sr := b.submit(t, `{"image_prompt_1": {}, "aspect_ratio": "256x128", "num_images": 2, "output_format": "png"}`, "")
	b.awaitCompleted(t, sr.StatusURL)
	out := b.result(t, sr.ResponseURL)
	require.Len(t, out.Images, 2)

	other, err := falsim.New(falsim.Config{})
	require.NoError(t, err)
	t.Cleanup(other.Close)
	for _, img := range out.Images {
		require.True(t, strings.HasPrefix(img.URL, "http://easel.example:8080/_sim/files/256x128/"), img.URL)
		u, err := url.Parse(img.URL)
		require.NoError(t, err)
		for _, srv := range []*httptest.Server{serveFiles(b.sim), serveFiles(other)} {
			resp, body := doRequest(t, http.MethodGet, srv.URL+u.Path, "", "")
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Equal(t, "image/png", resp.Header.Get("Content-Type"))
			require.Len(t, body, img.FileSize)
		}
	}
}

func TestFilesRejectBadPaths(t *testing.T) {
	t.Parallel()

	b := setup(t, falsim.Config{}, setupOpts{})
	for _, p := range []string{
		"/files/1024x1024/0/a.gif",
		"/files/1024x1024/0/a.JPEG",
		"/files/1024x1024/0/a",
		"/files/1024x1024/0/.png",
		"/files/1024/0/a.png",
		"/files/99999x1024/0/a.png",
		"/files/1024x1024/99/a.png",
		"/files/1024x1024/-1/a.png",
		"/files/1024x1024/0/a.png/b",
		"/files/1024x1024/a.png",
	} {
		resp, _ := doRequest(t, http.MethodGet, b.url+p, "", "")
		require.Equal(t, http.StatusNotFound, resp.StatusCode, p)
	}

	resp, _ := doRequest(t, http.MethodPut, httptest.NewServer(b.sim.FilesHandler()).URL+"/64x64/0/a.png", "", "")
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

// The file route is public on easel serve's listener, and a file is rendered
// on request: it serves only the sizes an input's aspect_ratio may ask for.
func TestFilesSizeBounds(t *testing.T) {
	t.Parallel()

	b := setup(t, falsim.Config{}, setupOpts{})
	for _, tt := range []struct {
		size string
		want int
	}{
		{"64x64", http.StatusOK},
		{"4096x64", http.StatusOK},
		{"64x4096", http.StatusOK},
		{"4096x4096", http.StatusOK},
		{"4097x64", http.StatusNotFound},
		{"64x4097", http.StatusNotFound},
		{"63x64", http.StatusNotFound},
		{"64x63", http.StatusNotFound},
		{"0x64", http.StatusNotFound},
		{"16384x16384", http.StatusNotFound},
	} {
		resp, body := doRequest(t, http.MethodGet, b.url+"/files/"+tt.size+"/0/a.webp", "", "")
		require.Equal(t, tt.want, resp.StatusCode, tt.size)
		if tt.want == http.StatusOK {
			require.Equal(t, "image/webp", resp.Header.Get("Content-Type"))
			width, height := webpSize(t, body)
			require.Equal(t, tt.size, fmt.Sprintf("%dx%d", width, height))
		}
	}
}

// The colour at the centre of each variant's image is the same in png and
// in webp, whose image is that colour throughout; JPEG's is close.
func TestFormatsDrawTheSameImage(t *testing.T) {
	t.Parallel()

	b := setup(t, falsim.Config{}, setupOpts{})
	get := func(name string) []byte {
		resp, body := doRequest(t, http.MethodGet, b.url+"/files/128x256/3/"+name, "", "")
		require.Equal(t, http.StatusOK, resp.StatusCode, name)
		return body
	}
	decode := func(name string) color.RGBA {
		img, _, err := stdimage.Decode(bytes.NewReader(get(name)))
		require.NoError(t, err, name)
		return color.RGBAModel.Convert(img.At(64, 128)).(color.RGBA)
	}
	want := decode("a.png")
	got := decode("a.jpeg")
	for _, pair := range [][2]uint8{{want.R, got.R}, {want.G, got.G}, {want.B, got.B}} {
		require.InDelta(t, pair[0], pair[1], 6, "png %v, jpeg %v", want, got)
	}
	require.Equal(t, want, solidWebPColour(t, get("a.webp")))
}

// solidWebPColour reads the colour of a one-colour lossless WebP image: the
// symbol of each of its single-symbol prefix codes (RFC 9649, 3.7.2.1.1).
func solidWebPColour(t *testing.T, body []byte) color.RGBA {
	t.Helper()
	webpSize(t, body)
	pos := 8 + 14 + 14 + 1 + 3 // past signature, size, alpha hint and version
	read := func(n int) uint8 {
		var v uint8
		for i := range n {
			bit := body[20+(pos+i)/8] >> ((pos + i) % 8) & 1
			v |= bit << i
		}
		pos += n
		return v
	}
	require.Zero(t, read(3), "transform, color cache and meta prefix code bits")
	var c [4]uint8 // green, red, blue, alpha
	for i := range c {
		require.Equal(t, uint8(1), read(1), "a simple code")
		require.Zero(t, read(1), "of one symbol")
		c[i] = read(1 + 7*int(read(1)))
	}
	return color.RGBA{R: c[1], G: c[0], B: c[2], A: c[3]}
}
