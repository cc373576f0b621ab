package jobs

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"

	"github.com/easelhq/easel/fal"
)

// nulFieldsInObject names the NULs in the valid JSON object raw, its
// top-level fields in the order they come, as the HTTP API reads a body.
func nulFieldsInObject(raw []byte) []fal.FieldError {
	if !bytes.Contains(raw, []byte(`\u0000`)) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var invalid []fal.FieldError
	for dec.More() {
		// raw is valid JSON, and inside an object Token yields keys as
		// strings.
		tok, err := dec.Token()
		name, _ := tok.(string)
		var value json.RawMessage
		if err == nil {
			err = dec.Decode(&value)
		}
		if err != nil {
			return invalid
		}
		invalid = append(invalid, fal.NULFields(name, value)...)
	}
	return invalid
}

// nulFieldsInFields names the NULs in an object split into its fields,
// in name order, the order of the fields being lost.
func nulFieldsInFields(fields map[string]json.RawMessage) []fal.FieldError {
	var invalid []fal.FieldError
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		invalid = append(invalid, fal.NULFields(name, fields[name])...)
	}
	return invalid
}
