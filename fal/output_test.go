package fal

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecodeOutput(t *testing.T) {
	t.Parallel()
	yes, no := true, false

	tests := []struct {
		name    string
		raw     string
		want    *Output
		wantErr string
	}{
		{
			name: "ProtocolExample",
			raw: `{"has_nsfw_concepts": [false, true],
				"images": [{"content_type": "image/jpeg", "file_name": "q1Xy7.jpeg", "file_size": 512345, "height": 1024, "url": "https://v3.fal.media/files/rabbit/q1Xy7.jpeg", "width": 1024},
				           {"content_type": "image/jpeg", "file_name": "Zk82p.jpeg", "file_size": 498812, "height": 1024, "url": "https://v3.fal.media/files/rabbit/Zk82p.jpeg", "width": 1024}],
				"timings": {"inference": 6.21}, "seed": 17454220438242315174}`,
			want: &Output{
				Images: []Image{
					{URL: "https://v3.fal.media/files/rabbit/q1Xy7.jpeg", ContentType: "image/jpeg", FileName: "q1Xy7.jpeg", FileSize: 512345, Width: 1024, Height: 1024},
					{URL: "https://v3.fal.media/files/rabbit/Zk82p.jpeg", ContentType: "image/jpeg", FileName: "Zk82p.jpeg", FileSize: 498812, Width: 1024, Height: 1024},
				},
				Timings:         map[string]float64{"inference": 6.21},
				HasNSFWConcepts: []*bool{&no, &yes},
			},
		},
		{
			name: "FloatSizes",
			raw:  `{"images": [{"url": "https://x/a.png", "file_size": 123456.0, "width": 1.024e3, "height": 768.0}]}`,
			want: &Output{Images: []Image{{URL: "https://x/a.png", FileSize: 123456, Width: 1024, Height: 768}}},
		},
		{
			name: "MinimalImageNullFields",
			raw:  `{"images": [{"url": "https://x/a.png", "file_size": null, "content_type": null}], "timings": null, "has_nsfw_concepts": null}`,
			want: &Output{Images: []Image{{URL: "https://x/a.png"}}},
		},
		{
			name: "OddTimingsIgnored",
			raw:  `{"images": [{"url": "https://x/a.png"}], "timings": {"inference": 1.5, "note": "warm", "steps": [1, 2]}}`,
			want: &Output{Images: []Image{{URL: "https://x/a.png"}}, Timings: map[string]float64{"inference": 1.5}},
		},
		{
			name: "TimingsNotAnObject",
			raw:  `{"images": [{"url": "https://x/a.png"}], "timings": 3.2}`,
			want: &Output{Images: []Image{{URL: "https://x/a.png"}}},
		},
		{
			// fal completed, and likely billed, the request: a size that is
			// not a whole number is informational data fal got wrong, absent
			// as an out-of-range one is, never a reason to fail the result.
			name: "SizesNotWholeNumbersAbsent",
			raw: `{"images": [
				{"url": "https://x/a.png", "file_size": 4404019.5, "width": "1024px", "height": 1e30},
				{"url": "https://x/b.png", "file_size": "4404019", "width": true, "height": [768]},
				{"url": "https://x/c.png", "file_size": {"bytes": 1}, "width": "", "height": 1.5e3}]}`,
			want: &Output{Images: []Image{
				{URL: "https://x/a.png"},
				{URL: "https://x/b.png", FileSize: 4404019},
				{URL: "https://x/c.png", Height: 1500},
			}},
		},
		{
			name: "NamesNotStringsAbsent",
			raw:  `{"images": [{"url": "https://x/a.png", "content_type": 7, "file_name": {"name": "a.png"}}]}`,
			want: &Output{Images: []Image{{URL: "https://x/a.png"}}},
		},
		{
			// Which image lacks its flag cannot be known: all are unknown.
			name: "NSFWTooFewFlagsUnknown",
			raw:  `{"images": [{"url": "https://x/a.png"}, {"url": "https://x/b.png"}], "has_nsfw_concepts": [true]}`,
			want: &Output{Images: []Image{{URL: "https://x/a.png"}, {URL: "https://x/b.png"}}},
		},
		{
			name: "NSFWTooManyFlagsUnknown",
			raw:  `{"images": [{"url": "https://x/a.png"}], "has_nsfw_concepts": [false, false]}`,
			want: &Output{Images: []Image{{URL: "https://x/a.png"}}},
		},
		{
			name: "NSFWScalarUnknown",
			raw:  `{"images": [{"url": "https://x/a.png"}], "has_nsfw_concepts": false}`,
			want: &Output{Images: []Image{{URL: "https://x/a.png"}}},
		},
		{
			name: "NSFWEntriesNotBooleansUnknown",
			raw: `{"images": [{"url": "https://x/a.png"}, {"url": "https://x/b.png"}, {"url": "https://x/c.png"}, {"url": "https://x/d.png"}],
				"has_nsfw_concepts": [null, "false", true, 0]}`,
			want: &Output{
				Images:          []Image{{URL: "https://x/a.png"}, {URL: "https://x/b.png"}, {URL: "https://x/c.png"}, {URL: "https://x/d.png"}},
				HasNSFWConcepts: []*bool{nil, nil, &yes, nil},
			},
		},
		{
			name: "NSFWMissingUnknown",
			raw:  `{"images": [{"url": "https://x/a.png"}]}`,
			want: &Output{Images: []Image{{URL: "https://x/a.png"}}},
		},
		{name: "NoImages", raw: `{"images": []}`, wantErr: "decode fal output: images is empty"},
		{name: "ImagesMissing", raw: `{"timings": {}}`, wantErr: "images is missing"},
		{name: "ImagesNull", raw: `{"images": null}`, wantErr: "images is missing"},
		{name: "ImagesNotAList", raw: `{"images": {"url": "https://x/a.png"}}`, wantErr: "images is not a list"},
		{name: "ImageWithoutURL", raw: `{"images": [{"url": "https://x/a.png"}, {"file_size": 1}]}`, wantErr: "images[1] has no url"},
		{name: "ImageNotAnObject", raw: `{"images": [{"url": "https://x/a.png"}, "https://x/b.png"]}`, wantErr: "images[1]: not an object"},
		{name: "ImageURLNotAString", raw: `{"images": [{"url": ["https://x/a.png"]}]}`, wantErr: "images[0]: url is not a string"},
		{
			// store writes width and height to integer columns, which a
			// larger value would wrap in; a negative size is no size.
			name: "OutOfRangeSizesAbsent",
			raw: `{"images": [
				{"url": "https://x/a.png", "file_size": -1, "width": -1024, "height": 2147483648},
				{"url": "https://x/b.png", "file_size": 9223372036854775807, "width": 2147483647, "height": 1e10},
				{"url": "https://x/c.png", "file_size": -9223372036854775808, "width": 4294968320, "height": -0}]}`,
			want: &Output{Images: []Image{
				{URL: "https://x/a.png"},
				{URL: "https://x/b.png", FileSize: math.MaxInt64, Width: math.MaxInt32},
				{URL: "https://x/c.png"},
			}},
		},
		{
			name: "URLSchemesAccepted",
			raw:  `{"images": [{"url": "http://127.0.0.1:8080/files/a.png"}, {"url": "HTTPS://V3.fal.media/files/b.png?x=1#f"}]}`,
			want: &Output{Images: []Image{{URL: "http://127.0.0.1:8080/files/a.png"}, {URL: "HTTPS://V3.fal.media/files/b.png?x=1#f"}}},
		},
		// What fal answers under sync_mode, which Easel never sends: refused,
		// since fal's output is kept when it is, and a data: URL would put
		// the image (up to 64 MiB) in every list page and callback.
		{name: "DataURLOfAnImage", raw: `{"images": [{"url": "https://x/a.png"}, {"url": "data:image/png;base64,iVBORw0KGgo="}]}`, wantErr: "images[1].url is a data: URL, not an http(s) URL of an image fal hosts (Easel never sets sync_mode)"},
		{name: "DataURLUpperCase", raw: `{"images": [{"url": "DATA:IMAGE/JPEG,abc"}]}`, wantErr: "images[0].url is a data: URL"},
		{name: "DataURLEmpty", raw: `{"images": [{"url": "data:image/,"}]}`, wantErr: "images[0].url is a data: URL"},
		{name: "DataURLNotAnImage", raw: `{"images": [{"url": "data:text/html,<script>alert(1)</script>"}]}`, wantErr: "images[0].url is a data: URL"},
		{name: "JavaScriptURL", raw: `{"images": [{"url": "javascript:alert(1)"}]}`, wantErr: "images[0].url is not an absolute http(s) URL"},
		{name: "OtherScheme", raw: `{"images": [{"url": "ftp://x/a.png"}]}`, wantErr: "images[0].url is not an absolute http(s) URL"},
		{name: "RelativeURL", raw: `{"images": [{"url": "/files/a.png"}]}`, wantErr: "images[0].url is not an absolute http(s) URL"},
		{name: "SchemeRelativeURL", raw: `{"images": [{"url": "//x/a.png"}]}`, wantErr: "images[0].url is not an absolute http(s) URL"},
		{name: "URLWithoutHost", raw: `{"images": [{"url": "https:///a.png"}]}`, wantErr: "images[0].url is not an absolute http(s) URL"},
		{name: "UnparsableURL", raw: `{"images": [{"url": "https://x/a\n.png"}]}`, wantErr: "images[0].url is not an absolute http(s) URL"},
		{name: "NotAnObject", raw: `[1, 2]`, wantErr: "decode fal output: not a JSON object"},
		{name: "NotJSON", raw: `{"images": [`, wantErr: "decode fal output: unexpected end of JSON input"},
		{name: "HTML", raw: `<html>502 Bad Gateway</html>`, wantErr: "decode fal output: not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			out, err := DecodeOutput(json.RawMessage(tt.raw))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, out)
		})
	}
}

func TestImageRoundTrip(t *testing.T) {
	t.Parallel()

	img := Image{URL: "https://x/a.png", ContentType: "image/png", FileName: "a.png", FileSize: 1 << 40, Width: 8, Height: 16}
	data, err := json.Marshal(img)
	require.NoError(t, err)
	var got Image
	require.NoError(t, json.Unmarshal(data, &got))
	require.Equal(t, img, got)
}
