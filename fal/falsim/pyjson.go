package falsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// marshalPython encodes v like Python's json.dumps(v, sort_keys=True): keys
// sorted, ", " and ": " separators, non-ASCII escaped as \uXXXX. fal's webhook
// bodies look like that, and a verifier that re-encodes instead of hashing the
// raw bytes fails on them.
func marshalPython(v any) ([]byte, error) {
	compact, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("marshal python-style json: %w", err)
	}
	return reencodePython(compact)
}

// reencodePython rewrites one JSON document in Python's style. Numbers keep
// their original text, so integers beyond float64 precision survive.
func reencodePython(doc []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("decode json: %w", err)
	}
	var buf bytes.Buffer
	writePython(&buf, tree)
	return buf.Bytes(), nil
}

func writePython(buf *bytes.Buffer, v any) {
	switch v := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(v))
	case json.Number:
		buf.WriteString(v.String())
	case string:
		writePythonString(buf, v)
	case []any:
		buf.WriteByte('[')
		for i, elem := range v {
			if i > 0 {
				buf.WriteString(", ")
			}
			writePython(buf, elem)
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		// Python sorts by code point; Go compares UTF-8 bytes, which orders
		// code points the same way.
		slices.Sort(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteString(", ")
			}
			writePythonString(buf, k)
			buf.WriteString(": ")
			writePython(buf, v[k])
		}
		buf.WriteByte('}')
	}
}

// writePythonString escapes like Python's ensure_ascii: everything outside
// printable ASCII becomes \uXXXX (UTF-16 surrogate pairs above U+FFFF).
func writePythonString(buf *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	writeU := func(r rune) {
		buf.WriteString(`\u`)
		buf.WriteByte(hex[r>>12&0xf])
		buf.WriteByte(hex[r>>8&0xf])
		buf.WriteByte(hex[r>>4&0xf])
		buf.WriteByte(hex[r&0xf])
	}
	buf.WriteByte('"')
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		switch {
		case r == '"':
			buf.WriteString(`\"`)
		case r == '\\':
			buf.WriteString(`\\`)
		case r == '\n':
			buf.WriteString(`\n`)
		case r == '\r':
			buf.WriteString(`\r`)
		case r == '\t':
			buf.WriteString(`\t`)
		case r == '\b':
			buf.WriteString(`\b`)
		case r == '\f':
			buf.WriteString(`\f`)
		case r >= 0x20 && r < 0x7f:
			buf.WriteByte(byte(r))
		case r > 0xffff:
			hi, lo := utf16.EncodeRune(r)
			writeU(hi)
			writeU(lo)
		default:
			writeU(r)
		}
	}
	buf.WriteByte('"')
}
