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
	var invalid []fal.FieldError
	for name, value := range fal.ObjectFields(raw) {
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
