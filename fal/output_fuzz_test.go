package fal

import (
	"encoding/json"
	"math"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzDecodeOutput checks that a model output either fails to decode with a
// reason or yields every image it lists, each with an absolute http(s) URL,
// with nothing Postgres cannot store (it refuses NUL in text and in jsonb's
// keys, and sizes beyond its columns); and that a decoded output is a fixed
// point: encoded with json.Marshal, as Easel would hand it on, it decodes to
// itself and encodes to the same bytes.
func FuzzDecodeOutput(f *testing.F) {
	for _, seed := range []string{
		`{"has_nsfw_concepts": [false, true], ` +
			`"images": [{"content_type": "image/jpeg", "file_name": "q1Xy7.jpeg", "file_size": 512345, "height": 1024, "url": "https://v3.fal.media/files/rabbit/q1Xy7.jpeg", "width": 1024}, ` +
			`{"content_type": "image/jpeg", "file_name": "Zk82p.jpeg", "file_size": 498812, "height": 1024, "url": "https://v3.fal.media/files/rabbit/Zk82p.jpeg", "width": 1024}], ` +
			`"seed": 17454220438242315174, "timings": {"inference": 6.21}}`,
		`{"images": [{"url": "https://x/a.png", "file_size": 123456.0, "width": 1.024e3, "height": "768"}]}`,
		`{"images": [{"url": "https://x/a.png", "file_size": null, "content_type": null}], "timings": null, "has_nsfw_concepts": null}`,
		`{"images": [], "timings": {"inference": 1.5, "note": "warm", "steps": [1, 2], "": -0, "big": 1e308}}`,
		`{"images": [{"url": "https://x/a\u0000.png"}], "timings": {"a\u0000": 1}}`,
		`{"images": [{"url": "https://x/a.png", "content_type": "image/\u0000png", "file_name": "\ud800.png"}]}`,
		`{"images": [{"url": "https://x/a.png"}, {"file_size": 1}, null]}`,
		`{"images": [{"url": "https://x/a.png", "file_size": 1.5, "width": -3, "height": 9223372036854775807}]}`,
		`{"images": [{"url": "https://x/a.png"}], "has_nsfw_concepts": [false, true]}`,
		`{"images": [{"url": "https://x/a.png"}, {"url": "data:image/png;base64,iVBORw0KGgo="}], "has_nsfw_concepts": [null, "true"]}`,
		`{"images": [{"url": "https://x/a.png", "file_size": 4404019.5, "width": "1024px"}], "has_nsfw_concepts": true}`,
		`{"images": [{"url": "https://x/a.png", "file_size": -1, "width": 2147483648, "height": -2147483649}]}`,
		`{"images": [{"url": "data:image/png;base64,iVBORw0KGgo="}, {"url": "javascript:alert(1)"}, {"url": "/a.png"}]}`,
		`{"images": {"url": "https://x/a.png"}, "IMAGES": []}`,
		`{"images": "https://x/a.png"}`,
		`[1, 2]`,
		`null`,
		``,
	} {
		f.Add([]byte(seed))
	}

	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := DecodeOutput(raw)
		if err != nil {
			require.Nil(t, out)
			require.True(t, strings.HasPrefix(err.Error(), "decode fal output: "), err.Error())
			require.LessOrEqual(t, len(err.Error()), maxDetailLen, "the error becomes a generation's error_message")
			return
		}
		requireStorableOutput(t, out)

		// Decoded as DecodeOutput does, so that repeated or differently cased
		// keys resolve the same way.
		var wire struct {
			Images json.RawMessage `json:"images"`
		}
		require.NoError(t, json.Unmarshal(raw, &wire))
		var listed []json.RawMessage
		require.NoError(t, json.Unmarshal(wire.Images, &listed))
		require.Len(t, out.Images, len(listed), "every image listed is kept")

		encoded, err := json.Marshal(out)
		require.NoError(t, err)
		again, err := DecodeOutput(encoded)
		require.NoError(t, err, "decode %s", encoded)
		require.Equal(t, out, again)
		encodedAgain, err := json.Marshal(again)
		require.NoError(t, err)
		require.Equal(t, string(encoded), string(encodedAgain))
	})
}

func requireStorableOutput(t *testing.T, out *Output) {
	t.Helper()
	require.NotNil(t, out.Images)
	if out.HasNSFWConcepts != nil {
		require.Len(t, out.HasNSFWConcepts, len(out.Images))
	}
	for _, img := range out.Images {
		require.NotEmpty(t, img.URL)
		u, err := url.Parse(img.URL)
		require.NoError(t, err)
		// Never a data: URL: fal's images are hosted (Easel never sets
		// sync_mode), and a data: URL would fill every list page.
		require.Contains(t, []string{"http", "https"}, u.Scheme)
		require.NotEmpty(t, u.Host)
		// store writes width and height to Postgres integers, file_size to a
		// bigint; 0 is absent.
		require.GreaterOrEqual(t, img.FileSize, int64(0))
		require.GreaterOrEqual(t, img.Width, 0)
		require.LessOrEqual(t, img.Width, math.MaxInt32)
		require.GreaterOrEqual(t, img.Height, 0)
		require.LessOrEqual(t, img.Height, math.MaxInt32)
		for _, s := range []string{img.URL, img.ContentType, img.FileName} {
			require.NotContains(t, s, "\x00")
		}
	}
	for phase := range out.Timings {
		require.NotContains(t, phase, "\x00")
	}
}

func TestDecodeOutputNUL(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		raw     string
		want    *Output
		wantErr string
	}{
		{
			name:    "InURL",
			raw:     `{"images": [{"url": "https://x/a.png"}, {"url": "https://x/b\u0000.png"}]}`,
			wantErr: `decode fal output: images[1].url contains the NUL character (\u0000)`,
		},
		{
			name: "InInformationalFieldsDropped",
			raw: `{"images": [{"url": "https://x/a.png", "content_type": "image/\u0000png", "file_name": "a\u0000.png", "width": 8}],
				"timings": {"inference": 1.5, "in\u0000ference": 2}}`,
			want: &Output{Images: []Image{{URL: "https://x/a.png", Width: 8}}, Timings: map[string]float64{"inference": 1.5}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			out, err := DecodeOutput(json.RawMessage(tt.raw))
			if tt.wantErr != "" {
				require.Nil(t, out)
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, out)
		})
	}
}

// A number as long as the body, fractional, is a size fal got wrong: absent,
// as any other that is not a whole number.
func TestDecodeOutputLongFractionalSizeAbsent(t *testing.T) {
	t.Parallel()

	out, err := DecodeOutput(json.RawMessage(`{"images": [{"url": "https://x/a.png", "width": 1` + strings.Repeat("0", 10000) + `.5, "height": 8}]}`))
	require.NoError(t, err)
	require.Equal(t, []Image{{URL: "https://x/a.png", Height: 8}}, out.Images)
}
