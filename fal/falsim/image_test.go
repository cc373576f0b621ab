package falsim_test

import (
	"bytes"
	"image/color"
	"image/png"
	"net/http"
	"path"
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
		wantNSFW      bool
		wantBlack     bool
	}{
		{
			name:  "defaults",
			input: validInput,
			width: 1024, height: 1024, count: 1,
		},
		{
			name:  "aspect ratio and count",
			input: `{"image_prompt_1": {}, "aspect_ratio": "832x1216", "num_images": 2}`,
			width: 832, height: 1216, count: 2,
		},
		{
			name:  "nsfw blanked by the safety checker",
			cfg:   falsim.Config{NSFWRate: 1},
			input: `{"image_prompt_1": {}, "aspect_ratio": "640x320", "num_images": 3}`,
			width: 640, height: 320, count: 3, wantNSFW: true, wantBlack: true,
		},
		{
			name:  "nsfw kept without the safety checker",
			cfg:   falsim.Config{NSFWRate: 1},
			input: `{"image_prompt_1": {}, "aspect_ratio": "320x640", "enable_safety_checker": false}`,
			width: 320, height: 640, count: 1, wantNSFW: true,
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
				require.Equal(t, "image/png", img.ContentType)
				require.Equal(t, tt.width, img.Width)
				require.Equal(t, tt.height, img.Height)
				require.Equal(t, path.Base(img.URL), img.FileName)
				require.Contains(t, img.URL, b.url+"/files/")

				resp, body := doRequest(t, http.MethodGet, img.URL, "", "")
				require.Equal(t, http.StatusOK, resp.StatusCode)
				require.Equal(t, "image/png", resp.Header.Get("Content-Type"))
				require.Len(t, body, img.FileSize)
				decoded, err := png.Decode(bytes.NewReader(body))
				require.NoError(t, err)
				require.Equal(t, tt.width, decoded.Bounds().Dx())
				require.Equal(t, tt.height, decoded.Bounds().Dy())
				r, g, bl, _ := decoded.At(tt.width/2, tt.height/2).RGBA()
				isBlack := r == 0 && g == 0 && bl == 0
				require.Equal(t, tt.wantBlack, isBlack, "pixel %v", color.RGBA64{uint16(r), uint16(g), uint16(bl), 0xffff})
			}
		})
	}
}

func TestFilesRejectBadPaths(t *testing.T) {
	t.Parallel()

	b := setup(t, falsim.Config{}, setupOpts{})
	for _, p := range []string{
		"/files/1024x1024/0/a.jpeg",
		"/files/1024/0/a.png",
		"/files/99999x1024/0/a.png",
		"/files/1024x1024/99/a.png",
		"/files/1024x1024/-1/a.png",
	} {
		resp, _ := doRequest(t, http.MethodGet, b.url+p, "", "")
		require.Equal(t, http.StatusNotFound, resp.StatusCode, p)
	}
}
