package fal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The input is decoded field by field rather than with json.Unmarshal into a struct: Unmarshal stops at the first
// error, matches keys case-insensitively, keeps the last of duplicate keys silently and turns null into a zero value,
// while every problem must be reported at once and against its exact path.

// rawObject is a JSON object whose values are not decoded yet.
type rawObject struct {
	fields map[string]json.RawMessage

	// dups holds the keys that occurred more than once.
	dups map[string]bool

	// untrusted is set when the values were not read by readRawObject and so may not even be valid JSON.
	untrusted bool
}

// readRawObject reads data as exactly one JSON object. The error, if any, is ready to be reported.
func readRawObject(data []byte) (rawObject, *FieldError) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return rawObject{}, malformedJSONError("", data, err)
	}
	if tok != json.Delim('{') {
		return rawObject{}, &FieldError{Message: "must be a JSON object, not " + string(kindOf(trimJSONSpace(data)))}
	}

	obj := rawObject{fields: make(map[string]json.RawMessage)}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return rawObject{}, malformedJSONError("", data, err)
		}
		key, ok := tok.(string)
		if !ok { // unreachable: the decoder only yields strings or errors in key position
			return rawObject{}, &FieldError{Message: fmt.Sprintf("malformed JSON at byte offset %d: expected an object key", dec.InputOffset())}
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return rawObject{}, malformedJSONError(key, data, err)
		}
		if _, seen := obj.fields[key]; seen {
			if obj.dups == nil {
				obj.dups = make(map[string]bool)
			}
			obj.dups[key] = true
		}
		obj.fields[key] = value
	}
	if _, err := dec.Token(); err != nil {
		return rawObject{}, malformedJSONError("", data, err)
	}

	end := dec.InputOffset()
	if rest := trimJSONSpace(data[end:]); len(rest) > 0 {
		offset := int64(len(data) - len(rest))
		return rawObject{}, &FieldError{Message: fmt.Sprintf("malformed JSON at byte offset %d: data after the object", offset)}
	}
	return obj, nil
}

func malformedJSONError(field string, data []byte, err error) *FieldError {
	var (
		offset int64
		msg    string
		synErr *json.SyntaxError
	)
	switch {
	case errors.As(err, &synErr):
		offset, msg = synErr.Offset, synErr.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		offset, msg = int64(len(data)), "unexpected end of JSON input"
	default:
		msg = err.Error()
	}
	return &FieldError{Field: field, Message: fmt.Sprintf("malformed JSON at byte offset %d: %s", offset, msg)}
}

// inputField is one member of a JSON object.
type inputField[T any] struct {
	name     string
	required bool

	// parse decodes and checks a value that is present and not null and stores it in dst, which holds the defaults.
	parse func(p *inputParser, path string, raw json.RawMessage, dst *T)
}

// parseRawObject parses the members of obj into dst, which holds the defaults. It reports problems in the order of
// fields, then unknown members in name order.
func parseRawObject[T any](p *inputParser, prefix string, obj rawObject, fields []inputField[T], dst *T) {
	for _, f := range fields {
		path := joinFieldPath(prefix, f.name)
		raw, ok := obj.fields[f.name]
		raw = trimJSONSpace(raw)
		switch {
		case obj.dups[f.name]:
			p.fail(path, "duplicate field")
		case !ok || len(raw) == 0 || kindOf(raw) == kindNull: // an empty RawMessage encodes as null
			if f.required {
				p.fail(path, "is required")
			}
		case obj.untrusted && !json.Valid(raw):
			p.fail(path, "malformed JSON")
		default:
			f.parse(p, path, raw, dst)
		}
	}

	var unknown []string
	for name := range obj.fields {
		if !slices.ContainsFunc(fields, func(f inputField[T]) bool { return f.name == name }) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range unknown {
		msg := "unknown field"
		if s := suggestField(name, fields); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		p.fail(joinFieldPath(prefix, name), msg)
	}
}

func stringField[T any](name string, maxChars int, set func(*T, string)) inputField[T] {
	return inputField[T]{name: name, parse: func(p *inputParser, path string, raw json.RawMessage, dst *T) {
		if s, ok := p.string(path, raw); ok && p.check(path, checkLength(s, maxChars)) {
			set(dst, s)
		}
	}}
}

func enumField[T any](name string, allowed []string, set func(*T, string)) inputField[T] {
	return inputField[T]{name: name, parse: func(p *inputParser, path string, raw json.RawMessage, dst *T) {
		if s, ok := p.string(path, raw); ok && p.check(path, checkEnum(s, allowed)) {
			set(dst, s)
		}
	}}
}

// enumListField is a list of distinct values of allowed.
func enumListField[T any](name string, allowed []string, set func(*T, []string)) inputField[T] {
	return inputField[T]{name: name, parse: func(p *inputParser, path string, raw json.RawMessage, dst *T) {
		elems, ok := p.array(path, raw, len(allowed))
		if !ok {
			return
		}
		values := make([]string, 0, len(elems))
		for i, elem := range elems {
			elemPath := indexFieldPath(path, i)
			s, ok := p.string(elemPath, elem)
			if !ok || !p.check(elemPath, checkEnum(s, allowed)) {
				continue
			}
			if slices.Contains(values, s) {
				p.failf(elemPath, "duplicate value %q", s)
				continue
			}
			values = append(values, s)
		}
		set(dst, values)
	}}
}

func numberField[T any](name string, lo, hi float64, set func(*T, float64)) inputField[T] {
	return inputField[T]{name: name, parse: func(p *inputParser, path string, raw json.RawMessage, dst *T) {
		if v, ok := p.number(path, raw, lo, hi); ok {
			set(dst, v)
		}
	}}
}

func boolField[T any](name string, set func(*T, bool)) inputField[T] {
	return inputField[T]{name: name, parse: func(p *inputParser, path string, raw json.RawMessage, dst *T) {
		if v, ok := p.boolean(path, raw); ok {
			set(dst, v)
		}
	}}
}

// imageURLField is an image: an image prompt's own (required), or an optional one. "" is refused, not read as none, as
// callback_url's is: it is more likely an unfilled template than a choice, and fal would either fail the request
// minutes later or run it without the image the caller meant; null or leaving the field out says none.
func imageURLField[T any](name string, required bool, set func(*T, string)) inputField[T] {
	empty := "must not be empty; leave the field out, or send null, for no image"
	if required {
		empty = "must not be empty: an image prompt without an image has no effect"
	}
	return inputField[T]{name: name, required: required, parse: func(p *inputParser, path string, raw json.RawMessage, dst *T) {
		s, ok := p.string(path, raw)
		switch {
		case !ok:
		case s == "":
			p.fail(path, empty)
		case p.check(path, checkImageURL(s)):
			set(dst, s)
		}
	}}
}

// jsonKind names the kind of a JSON value the way an error message needs it.
type jsonKind string

const (
	kindObject  jsonKind = "an object"
	kindArray   jsonKind = "an array"
	kindString  jsonKind = "a string"
	kindNumber  jsonKind = "a number"
	kindBool    jsonKind = "a boolean"
	kindNull    jsonKind = "null"
	kindInvalid jsonKind = "malformed JSON"
)

// kindOf tells the kind of a valid JSON value from its first byte.
func kindOf(raw []byte) jsonKind {
	if len(raw) == 0 {
		return kindInvalid
	}
	switch c := raw[0]; {
	case c == '{':
		return kindObject
	case c == '[':
		return kindArray
	case c == '"':
		return kindString
	case c == '-' || '0' <= c && c <= '9':
		return kindNumber
	case c == 't' || c == 'f':
		return kindBool
	case c == 'n':
		return kindNull
	}
	return kindInvalid
}

func trimJSONSpace(raw []byte) []byte {
	return bytes.Trim(raw, " \t\r\n")
}

func (p *inputParser) expect(path string, raw json.RawMessage, want jsonKind) bool {
	if got := kindOf(raw); got != want {
		p.failf(path, "must be %s, not %s", want, got)
		return false
	}
	return true
}

// string decodes a string. Invalid UTF-8 and unpaired UTF-16 surrogate escapes are refused rather than read as
// U+FFFD, as encoding/json would, so that what is stored and sent to fal is what the caller wrote. A NUL is left to the
// caller: the HTTP API names every one itself, and a Go caller's is refused when the whole input is checked.
func (p *inputParser) string(path string, raw json.RawMessage) (string, bool) {
	if !p.expect(path, raw, kindString) {
		return "", false
	}
	switch {
	case !utf8.Valid(raw):
		p.fail(path, "must be valid UTF-8")
		return "", false
	case findJSONEscape(raw, escapeLoneSurrogate) != 0:
		p.fail(path, loneSurrogateMessage)
		return "", false
	}
	var s string
	if !p.unmarshal(path, raw, &s) {
		return "", false
	}
	return s, true
}

func (p *inputParser) boolean(path string, raw json.RawMessage) (bool, bool) {
	var v bool
	if !p.expect(path, raw, kindBool) || !p.unmarshal(path, raw, &v) {
		return false, false
	}
	return v, true
}

// number decodes a number within [lo, hi].
func (p *inputParser) number(path string, raw json.RawMessage, lo, hi float64) (float64, bool) {
	if !p.expect(path, raw, kindNumber) {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || v < lo || v > hi {
		p.failf(path, "must be a number between %s and %s", formatBound(lo), formatBound(hi))
		return 0, false
	}
	return v, true
}

// integer decodes an integer within [lo, hi]. It must be written as one: 2.0 and 2e0 are rejected so that what is
// stored reads as what was meant.
func (p *inputParser) integer(path string, raw json.RawMessage, lo, hi uint64) (uint64, bool) {
	if got := kindOf(raw); got != kindNumber {
		p.failf(path, "must be an integer, not %s", got)
		return 0, false
	}
	v, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil || v < lo || v > hi {
		p.failf(path, "must be an integer between %d and %d", lo, hi)
		return 0, false
	}
	return v, true
}

// array decodes an array of at most maxLen elements. A longer array is reported as a whole: its elements are not
// checked, so that one mistake does not bury the report under thousands of lines.
func (p *inputParser) array(path string, raw json.RawMessage, maxLen int) ([]json.RawMessage, bool) {
	var elems []json.RawMessage
	if !p.expect(path, raw, kindArray) || !p.unmarshal(path, raw, &elems) {
		return nil, false
	}
	if len(elems) > maxLen {
		p.failf(path, "must have at most %d items, not %d", maxLen, len(elems))
		return nil, false
	}
	return elems, true
}

func (p *inputParser) object(path string, raw json.RawMessage) (rawObject, bool) {
	if !p.expect(path, raw, kindObject) {
		return rawObject{}, false
	}
	obj, ferr := readRawObject(raw)
	if ferr != nil {
		p.fail(path, ferr.Message)
		return rawObject{}, false
	}
	return obj, true
}

// unmarshal decodes a value whose kind was checked; it fails only on JSON that readRawObject did not vouch for.
func (p *inputParser) unmarshal(path string, raw json.RawMessage, v any) bool {
	if err := json.Unmarshal(raw, v); err != nil {
		p.fail(path, "malformed JSON")
		return false
	}
	return true
}

func joinFieldPath(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func indexFieldPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

func formatBound(v float64) string {
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// suggestField returns the known field name closest to a misspelled one, or "" if none is close.
func suggestField[T any](name string, fields []inputField[T]) string {
	const maxDistance = 2
	best, bestDistance := "", maxDistance+1
	for _, f := range fields {
		if d := len(name) - len(f.name); d > maxDistance || d < -maxDistance {
			continue // also keeps a huge unknown name from costing quadratic time
		}
		if d := editDistance(strings.ToLower(name), f.name); d < bestDistance {
			best, bestDistance = f.name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Kinds of \u escape that encoding/json reads from valid JSON text but Postgres refuses: it stores U+0000 neither in
// text nor in jsonb (SQLSTATE 22P05), and jsonb refuses a \uD800-\uDFFF escape that is not a high surrogate directly
// followed by a low one (22P02), which encoding/json reads as U+FFFD.
const (
	escapeNUL = 1 << iota
	escapeLoneSurrogate
)

const (
	nulMessage           = "must not contain the NUL character (\\u0000)"
	loneSurrogateMessage = "must not contain an unpaired UTF-16 surrogate escape such as \\ud800"
)

// JSONBEscapeProblem says why Postgres's jsonb would refuse the valid JSON text raw although encoding/json reads it: a
// \u0000 escape, or an unpaired UTF-16 surrogate escape such as \ud800, whichever comes first. It returns "" if there
// is neither. The message follows a field name: "metadata: must not contain ...".
func JSONBEscapeProblem(raw []byte) string {
	switch findJSONEscape(raw, escapeNUL|escapeLoneSurrogate) {
	case escapeNUL:
		return nulMessage
	case escapeLoneSurrogate:
		return loneSurrogateMessage
	}
	return ""
}

// findJSONEscape returns the first escape of the kinds in want (escapeNUL, escapeLoneSurrogate) in the valid JSON text
// raw, or 0. A backslash appears only inside strings in valid JSON, so escapes are found without tracking strings, and
// an escaped backslash is skipped whole: \\u0000 is the six characters \u0000, which Postgres takes.
func findJSONEscape(raw []byte, want int) int {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if i+1 >= len(raw) || raw[i+1] != 'u' {
			i++ // a two-character escape: \\, \", \n ...
			continue
		}
		r, ok := hex4(raw, i+2)
		if !ok {
			return 0 // not valid JSON: not this check's concern
		}
		found := 0
		switch {
		case r == 0:
			found = escapeNUL
		case r >= 0xdc00 && r <= 0xdfff:
			found = escapeLoneSurrogate
		case r >= 0xd800 && r <= 0xdbff:
			// A high surrogate must be followed at once by \u and a low one, and the pair is then one character.
			j := i + 6
			low, ok := rune(0), j+1 < len(raw) && raw[j] == '\\' && raw[j+1] == 'u'
			if ok {
				low, ok = hex4(raw, j+2)
			}
			if !ok || low < 0xdc00 || low > 0xdfff {
				found = escapeLoneSurrogate
			} else {
				i = j
			}
		}
		if found&want != 0 {
			return found
		}
		i += 5
	}
	return 0
}

// hex4 reads the four hex digits of a \u escape at raw[at:].
func hex4(raw []byte, at int) (rune, bool) {
	if at+4 > len(raw) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(raw[at:at+4]), 16, 16)
	return rune(n), err == nil
}
