package fal

import (
	"bytes"
	"encoding/json"
	"iter"
)

// ObjectFields yields the top-level fields of data, a JSON object already
// known to be valid, in the order they come, repeated names included: the
// order in which the HTTP API and jobs.Enqueue report problems, and what a
// map would lose. It yields nothing when data is not an object, and stops
// at anything it cannot read.
func ObjectFields(data []byte) iter.Seq2[string, json.RawMessage] {
	return func(yield func(string, json.RawMessage) bool) {
		dec := json.NewDecoder(bytes.NewReader(data))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			return
		}
		for dec.More() {
			// Inside an object Token yields keys as strings.
			tok, err := dec.Token()
			name, _ := tok.(string)
			var value json.RawMessage
			if err == nil {
				err = dec.Decode(&value)
			}
			if err != nil || !yield(name, value) {
				return
			}
		}
	}
}
