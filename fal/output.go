package fal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
)

// Image is one generated image, hosted by fal at URL.
type Image struct {
	URL         string `json:"url"`
	ContentType string `json:"content_type,omitempty"`
	FileName    string `json:"file_name,omitempty"`
	FileSize    int64  `json:"file_size,omitempty"`
	Width       int    `json:"width,omitempty"`
	Height      int    `json:"height,omitempty"`
}

// UnmarshalJSON accepts integral sizes written as floats (1024.0), which
// Python-built payloads can contain.
func (img *Image) UnmarshalJSON(data []byte) error {
	var wire struct {
		URL         string      `json:"url"`
		ContentType string      `json:"content_type"`
		FileName    string      `json:"file_name"`
		FileSize    json.Number `json:"file_size"`
		Width       json.Number `json:"width"`
		Height      json.Number `json:"height"`
	}
	if err := json.Unmarshal(data, &wire); err != nil {
		return err
	}
	fileSize, err := intFromNumber("file_size", wire.FileSize)
	if err != nil {
		return err
	}
	width, err := intFromNumber("width", wire.Width)
	if err != nil {
		return err
	}
	height, err := intFromNumber("height", wire.Height)
	if err != nil {
		return err
	}
	*img = Image{
		URL:         wire.URL,
		ContentType: wire.ContentType,
		FileName:    wire.FileName,
		FileSize:    sizeOrAbsent(fileSize, math.MaxInt64),
		Width:       int(sizeOrAbsent(width, math.MaxInt32)),
		Height:      int(sizeOrAbsent(height, math.MaxInt32)),
	}
	return nil
}

// sizeOrAbsent returns n if it is in [0, hi], else 0, which means absent. A
// size out of range is informational data fal got wrong, so it must not make
// a paid result unreadable; hi is what the column holds (width and height
// are Postgres integers), so a value cannot wrap on the way in.
func sizeOrAbsent(n, hi int64) int64 {
	if n < 0 || n > hi {
		return 0
	}
	return n
}

// intFromNumber converts n to an int64 if it holds an integral value; "" is 0.
func intFromNumber(field string, n json.Number) (int64, error) {
	if n == "" {
		return 0, nil
	}
	if i, err := n.Int64(); err == nil {
		return i, nil
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || math.Abs(f) >= math.MaxInt64 {
		// A number can be as long as the body; the error becomes a
		// generation's error_message.
		shown := string(n)
		if len(shown) > 32 {
			shown = shown[:32] + "…"
		}
		return 0, fmt.Errorf("%s: %s is not an integer", field, shown)
	}
	return int64(f), nil
}

// Output is the model output of Fooocus endpoints.
type Output struct {
	Images []Image `json:"images"`

	// Timings are durations in seconds by phase, e.g. "inference".
	Timings map[string]float64 `json:"timings"`

	// HasNSFWConcepts flags each image, in order; nil if fal sent none.
	HasNSFWConcepts []bool `json:"has_nsfw_concepts"`
}

// DecodeOutput decodes a model output. Unknown fields are ignored, and so are
// timings that are not numbers and sizes (file_size, width, height) that are
// negative or too large to store: they are informational and must not make a
// paid result unreadable. Images must be present and each must have an
// absolute http(s) URL, and the NSFW flags, when present, must match the
// images one to one. A data: URL is refused too: fal answers with one only
// under sync_mode, which Easel never sets, and an image URL is stored and
// put in the gallery's links.
//
// Postgres stores U+0000 neither in text nor in jsonb, so a URL holding it is
// an error, while a content type, file name or timing phase holding it is
// dropped like other informational values fal gets wrong.
func DecodeOutput(raw json.RawMessage) (*Output, error) {
	var wire struct {
		Images          json.RawMessage `json:"images"`
		Timings         json.RawMessage `json:"timings"`
		HasNSFWConcepts []bool          `json:"has_nsfw_concepts"`
	}
	if err := json.Unmarshal(raw, &wire); err != nil {
		return nil, fmt.Errorf("decode fal output: %w", err)
	}

	images := bytes.TrimSpace(wire.Images)
	if len(images) == 0 || string(images) == "null" {
		return nil, errors.New("decode fal output: images is missing")
	}
	if images[0] != '[' {
		return nil, errors.New("decode fal output: images is not a list")
	}
	out := &Output{HasNSFWConcepts: wire.HasNSFWConcepts}
	if err := json.Unmarshal(images, &out.Images); err != nil {
		return nil, fmt.Errorf("decode fal output: images: %w", err)
	}
	for i := range out.Images {
		img := &out.Images[i]
		switch {
		case img.URL == "":
			return nil, fmt.Errorf("decode fal output: images[%d] has no url", i)
		case strings.ContainsRune(img.URL, 0):
			return nil, fmt.Errorf("decode fal output: images[%d].url contains the NUL character (\\u0000)", i)
		case !isHTTPURL(img.URL):
			return nil, fmt.Errorf("decode fal output: images[%d].url is not an absolute http(s) URL", i)
		}
		if strings.ContainsRune(img.ContentType, 0) {
			img.ContentType = ""
		}
		if strings.ContainsRune(img.FileName, 0) {
			img.FileName = ""
		}
	}
	if out.HasNSFWConcepts != nil && len(out.HasNSFWConcepts) != len(out.Images) {
		return nil, fmt.Errorf("decode fal output: has_nsfw_concepts has %d entries for %d images",
			len(out.HasNSFWConcepts), len(out.Images))
	}

	var timings map[string]json.RawMessage
	if json.Unmarshal(wire.Timings, &timings) == nil {
		for phase, raw := range timings {
			var seconds float64
			if json.Unmarshal(raw, &seconds) == nil && !strings.ContainsRune(phase, 0) {
				if out.Timings == nil {
					out.Timings = make(map[string]float64, len(timings))
				}
				out.Timings[phase] = seconds
			}
		}
	}
	return out, nil
}

// isHTTPURL reports whether s is an absolute http or https URL with a host.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
