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

// UnmarshalJSON reads an image as DecodeOutput does: only a url that is
// not a string, or an image that is not an object, is an error. The other
// fields are informational, so one fal gets wrong (a fractional or quoted
// size, "1024px", a number for a name) is absent, never a reason to lose a
// paid result; integral sizes written as floats (1024.0), which
// Python-built payloads can contain, are read.
func (img *Image) UnmarshalJSON(data []byte) error {
	var wire struct {
		URL         json.RawMessage `json:"url"`
		ContentType json.RawMessage `json:"content_type"`
		FileName    json.RawMessage `json:"file_name"`
		FileSize    json.RawMessage `json:"file_size"`
		Width       json.RawMessage `json:"width"`
		Height      json.RawMessage `json:"height"`
	}
	if trimmed := bytes.TrimSpace(data); len(trimmed) == 0 || trimmed[0] != '{' {
		return errors.New("not an object")
	}
	if err := json.Unmarshal(data, &wire); err != nil {
		return err
	}
	var u string
	if !isNull(wire.URL) && json.Unmarshal(wire.URL, &u) != nil {
		return errors.New("url is not a string")
	}
	*img = Image{
		URL:         u,
		ContentType: stringOrAbsent(wire.ContentType),
		FileName:    stringOrAbsent(wire.FileName),
		FileSize:    sizeOrAbsent(wire.FileSize, math.MaxInt64),
		Width:       int(sizeOrAbsent(wire.Width, math.MaxInt32)),
		Height:      int(sizeOrAbsent(wire.Height, math.MaxInt32)),
	}
	return nil
}

// stringOrAbsent returns raw's string, or "" (absent) when raw is not a
// string or holds U+0000, which Postgres stores in no text column.
func stringOrAbsent(raw json.RawMessage) string {
	var s string
	if isNull(raw) || json.Unmarshal(raw, &s) != nil || strings.ContainsRune(s, 0) {
		return ""
	}
	return s
}

// sizeOrAbsent returns raw's value if it is a whole number in [0, hi], else
// 0, which means absent. A size that is not one is informational data fal
// got wrong, so it must not make a paid result unreadable; hi is what the
// column holds (width and height are Postgres integers), so a value cannot
// wrap on the way in. A number in a string ("768") is read, as
// encoding/json reads it into a json.Number.
func sizeOrAbsent(raw json.RawMessage, hi int64) int64 {
	var n json.Number
	if isNull(raw) || json.Unmarshal(raw, &n) != nil || n == "" {
		return 0
	}
	i, err := n.Int64()
	if err != nil {
		f, ferr := n.Float64()
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) >= math.MaxInt64 {
			return 0
		}
		i = int64(f)
	}
	if i < 0 || i > hi {
		return 0
	}
	return i
}

// isNull reports whether raw is absent or JSON null.
func isNull(raw json.RawMessage) bool {
	s := bytes.TrimSpace(raw)
	return len(s) == 0 || string(s) == "null"
}

// Output is the model output of Fooocus endpoints.
type Output struct {
	Images []Image `json:"images"`

	// Timings are durations in seconds by phase, e.g. "inference".
	Timings map[string]float64 `json:"timings"`

	// HasNSFWConcepts flags each image, in order: nil when fal sent no
	// list that lines up with Images, else one entry per image, nil where
	// fal's entry was not a boolean. A nil flag is unknown, never "not
	// NSFW": see NSFW.
	HasNSFWConcepts []*bool `json:"has_nsfw_concepts"`
}

// NSFW returns whether fal flagged image i NSFW, or nil when that is
// unknown.
func (o *Output) NSFW(i int) *bool {
	if i < 0 || i >= len(o.HasNSFWConcepts) {
		return nil
	}
	return o.HasNSFWConcepts[i]
}

// DecodeOutput decodes a model output. fal completed the request, and
// likely billed it, so anything short of the images themselves is read
// leniently: it fails only when the output is not a JSON object, lists no
// image, or an image has no usable URL (see usableImageURL), since then
// there is nothing to record.
//
// Everything else is informational and is dropped rather than refused:
// unknown fields; timings that are not numbers; content types and file
// names that are not strings; sizes (file_size, width, height) that are not
// whole numbers, or are negative or too large to store. NSFW flags are
// kept only where they line up with the images: a has_nsfw_concepts that is
// missing, not a list, or of another length than images leaves every
// image's flag unknown, and an entry that is not a boolean leaves its
// image's unknown.
//
// Postgres stores U+0000 neither in text nor in jsonb, so a URL holding it is
// an error, while a content type, file name or timing phase holding it is
// dropped like other informational values fal gets wrong.
func DecodeOutput(raw json.RawMessage) (*Output, error) {
	var wire struct {
		Images          json.RawMessage `json:"images"`
		Timings         json.RawMessage `json:"timings"`
		HasNSFWConcepts json.RawMessage `json:"has_nsfw_concepts"`
	}
	if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && trimmed[0] != '{' {
		return nil, errors.New("decode fal output: not a JSON object")
	}
	if err := json.Unmarshal(raw, &wire); err != nil {
		return nil, fmt.Errorf("decode fal output: %w", err)
	}

	images := bytes.TrimSpace(wire.Images)
	if isNull(images) {
		return nil, errors.New("decode fal output: images is missing")
	}
	var listed []json.RawMessage
	if images[0] != '[' || json.Unmarshal(images, &listed) != nil {
		return nil, errors.New("decode fal output: images is not a list")
	}
	if len(listed) == 0 {
		return nil, errors.New("decode fal output: images is empty")
	}
	out := &Output{Images: make([]Image, len(listed))}
	for i, item := range listed {
		img := &out.Images[i]
		if err := img.UnmarshalJSON(item); err != nil {
			return nil, fmt.Errorf("decode fal output: images[%d]: %w", i, err)
		}
		switch {
		case img.URL == "":
			return nil, fmt.Errorf("decode fal output: images[%d] has no url", i)
		case strings.ContainsRune(img.URL, 0):
			return nil, fmt.Errorf("decode fal output: images[%d].url contains the NUL character (\\u0000)", i)
		case len(img.URL) >= len("data:") && strings.EqualFold(img.URL[:len("data:")], "data:"):
			return nil, fmt.Errorf("decode fal output: images[%d].url is a data: URL, not an http(s) URL of an image fal hosts (Easel never sets sync_mode)", i)
		case !usableImageURL(img.URL):
			return nil, fmt.Errorf("decode fal output: images[%d].url is not an absolute http(s) URL", i)
		}
	}
	out.HasNSFWConcepts = nsfwFlags(wire.HasNSFWConcepts, len(out.Images))

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

// nsfwFlags reads has_nsfw_concepts for n images: nil, every flag unknown,
// unless raw is a list of n entries, which cannot be paired with the
// images otherwise: with one entry too few, which image lacks its flag is
// anybody's guess. An entry that is not a boolean (null, "false", 0) is
// unknown.
func nsfwFlags(raw json.RawMessage, n int) []*bool {
	var entries []json.RawMessage
	if json.Unmarshal(raw, &entries) != nil || len(entries) != n {
		return nil
	}
	flags := make([]*bool, n)
	for i, entry := range entries {
		var flag bool
		if !isNull(entry) && json.Unmarshal(entry, &flag) == nil {
			flags[i] = &flag
		}
	}
	return flags
}

// usableImageURL reports whether s is an absolute http or https URL with a
// host. fal answers with data: URLs only under sync_mode, which Easel never
// sends, so one is not fal's usual output: it would put up to the whole
// response (64 MiB) in generation_images.url, every list page and callback,
// html/template would render it as a broken image, and "data:image/," holds
// no image at all. fal's output is kept (webhook_events, polled_results)
// when it is refused, so nothing paid for is lost. Other schemes
// (javascript:, relative URLs) are no place an image can be fetched from.
func usableImageURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		return u.Host != ""
	}
	return false
}
