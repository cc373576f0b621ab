package fal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Postgres stores U+0000 neither in text nor in jsonb: a field holding one
// is refused with its path rather than left to fail the insert, which
// would abort the caller's transaction. NULFields is shared by the HTTP
// API and jobs.Enqueue, so that the same input gets the same report from
// both.
const nulFieldNameMessage = "field name " + nulMessage

// NULFields names every string and field name holding U+0000 in the
// top-level field name and its JSON value, by its path (prompt,
// loras[1].path); inside an object, fields are named in name order. A value
// that is not JSON is left to the parser to report.
func NULFields(name string, value json.RawMessage) []FieldError {
	var invalid []FieldError
	if strings.ContainsRune(name, 0) {
		invalid = append(invalid, FieldError{Field: name, Message: nulFieldNameMessage})
	}
	// A NUL is always escaped in JSON text; an escaped backslash before
	// u0000 is found too, and then decodes to no NUL.
	if !bytes.Contains(value, []byte(`\u0000`)) {
		return invalid
	}
	var v any
	if err := json.Unmarshal(value, &v); err != nil {
		// Not JSON (a field of a split object): the parser says so.
		return invalid
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case string:
			if strings.ContainsRune(v, 0) {
				invalid = append(invalid, FieldError{Field: path, Message: nulMessage})
			}
		case []any:
			for i, elem := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), elem)
			}
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(v)) {
				field := k
				if path != "" {
					field = path + "." + k
				}
				if strings.ContainsRune(k, 0) {
					invalid = append(invalid, FieldError{Field: field, Message: nulFieldNameMessage})
					continue
				}
				walk(field, v[k])
			}
		}
	}
	walk(name, v)
	return invalid
}
