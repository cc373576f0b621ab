package fal

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// FieldError names one invalid field by its JSON path ("image_prompt_2.weight", "loras[3].scale", "styles[1]"). Field
// is empty when the problem concerns the input as a whole, such as malformed JSON.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every invalid field of one input, in a stable order: fal's schema order, array elements in
// index order, unknown fields last in name order.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid input: ")
	for i, f := range e.Fields {
		if i > 0 {
			b.WriteString("; ")
		}
		if f.Field != "" {
			b.WriteString(f.Field)
			b.WriteString(": ")
		}
		b.WriteString(f.Message)
	}
	return b.String()
}

// inputParser collects the problems found while parsing one input.
type inputParser struct {
	errs []FieldError
}

func (p *inputParser) fail(path, msg string) {
	p.errs = append(p.errs, FieldError{Field: path, Message: msg})
}

func (p *inputParser) failf(path, format string, args ...any) {
	p.fail(path, fmt.Sprintf(format, args...))
}

// check reports problem, if there is one, and tells whether there was none.
func (p *inputParser) check(path, problem string) bool {
	if problem != "" {
		p.fail(path, problem)
		return false
	}
	return true
}

func (p *inputParser) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	return &ValidationError{Fields: p.errs}
}

// The check functions below return what is wrong with a value, or "" if nothing is.

func checkLength(s string, maxChars int) string {
	if len(s) > maxChars && utf8.RuneCountInString(s) > maxChars {
		return fmt.Sprintf("must be at most %d characters long", maxChars)
	}
	return ""
}

func checkEnum(s string, allowed []string) string {
	for _, a := range allowed {
		if s == a {
			return ""
		}
	}
	for _, a := range allowed {
		if strings.EqualFold(s, a) {
			return fmt.Sprintf("unknown value %q; did you mean %q?", s, a)
		}
	}
	if len(allowed) > 10 {
		return fmt.Sprintf("unknown value %q", s)
	}
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = strconv.Quote(a)
	}
	return "must be one of " + strings.Join(quoted, ", ")
}

func checkAspectRatio(s string) string {
	width, height, ok := strings.Cut(s, "x")
	w, wOK := parseAspectSide(width)
	h, hOK := parseAspectSide(height)
	switch {
	case !ok || !wOK || !hOK:
		return `must be "<width>x<height>" such as "1024x1024"`
	case w%8 != 0 || h%8 != 0:
		return "width and height must be multiples of 8"
	case w < minAspectSide || w > maxAspectSide || h < minAspectSide || h > maxAspectSide:
		return fmt.Sprintf("width and height must be between %d and %d", minAspectSide, maxAspectSide)
	}
	return ""
}

// parseAspectSide parses a side written in plain decimal, without sign or leading zeros, so that every accepted
// aspect_ratio has one spelling.
func parseAspectSide(s string) (int, bool) {
	if s == "" || len(s) > 5 || s[0] == '0' {
		return 0, false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

func checkLoraPath(s string) string {
	switch {
	case strings.TrimSpace(s) == "":
		return "must not be empty"
	case len(s) > maxImageURLLength:
		return fmt.Sprintf("must be at most %d bytes long", maxImageURLLength)
	}
	return ""
}

// checkImageURL accepts what fal fetches or decodes: an absolute http(s) URL, or a base64 data URI of an image.
// Credentials in a URL are rejected because the input is stored and shown in the history.
func checkImageURL(s string) string {
	if len(s) >= len("data:") && strings.EqualFold(s[:len("data:")], "data:") {
		return checkDataURI(s[len("data:"):])
	}
	if len(s) > maxImageURLLength {
		return fmt.Sprintf("must be at most %d bytes long", maxImageURLLength)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return "must be an absolute http(s) URL or a base64 data: URI"
	}
	if u.User != nil {
		return "must not contain credentials"
	}
	return ""
}

// checkDataURI checks the part of a data URI after "data:", which must be "<image type>[;params];base64,<data>".
func checkDataURI(s string) string {
	const base64Suffix = ";base64"
	meta, data, ok := strings.Cut(s, ",")
	if !ok {
		return "data URI has no ',' before its data"
	}
	if len(meta) < len(base64Suffix) || !strings.EqualFold(meta[len(meta)-len(base64Suffix):], base64Suffix) {
		return "data URI must be base64-encoded: data:<image type>;base64,<data>"
	}
	mediaType, _, _ := strings.Cut(meta[:len(meta)-len(base64Suffix)], ";")
	if typ, subtype, ok := strings.Cut(mediaType, "/"); !ok || !strings.EqualFold(typ, "image") || subtype == "" {
		return "data URI must have an image media type such as image/png"
	}

	// Decode into nothing: this checks the encoding and measures the size without holding the image in memory, and
	// it stops just past the limit.
	dec := base64.NewDecoder(base64.StdEncoding, strings.NewReader(data))
	n, err := io.Copy(io.Discard, io.LimitReader(dec, MaxImageDataSize+1))
	switch {
	case err != nil:
		return "data URI data is not valid base64"
	case n == 0:
		return "data URI has no data"
	case n > MaxImageDataSize:
		return fmt.Sprintf("data URI data must decode to at most %d bytes (5 MiB)", MaxImageDataSize)
	}
	return ""
}
