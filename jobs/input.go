package jobs

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/easelhq/easel/fal"
)

// Input is a fal-ai/fooocus/image-prompt input that ParseInput validated,
// with every default applied, in the JSON encoding Easel stores and sends to
// fal. Enqueue takes it without validating it again.
type Input struct {
	seed    *uint64
	encoded []byte
}

// ParseInput validates input as Enqueue does, for a caller that validates
// before it writes: the HTTP API answers an invalid request before it
// touches the database. Besides what Enqueue takes, input may be a JSON
// object already split into its fields (map[string]json.RawMessage). Invalid
// input returns a *fal.ValidationError naming every invalid field by its
// JSON path, as does one of more than MaxInputBytes of JSON. A
// *fal.ImagePromptInput is built with fal.NewImagePromptInput, which holds
// fal's defaults. A string holding U+0000, which Postgres cannot store, is
// left to Enqueue, which names it with the input's other problems (the
// HTTP API names it itself, before it calls ParseInput).
func ParseInput(input any) (*Input, error) {
	parsed, _, err := decodeInput(input)
	return parsed, err
}

// MaxInputBytes caps an input's JSON as the caller passes it (or as
// json.Marshal encodes it): the HTTP API's cap on a whole request body
// (api.MaxBodyBytes), room for a data: URI image of fal.MaxImageDataSize.
// Larger inputs belong at a URL.
const MaxInputBytes = 8 << 20

func inputTooLarge(size int) error {
	return &fal.ValidationError{Fields: []fal.FieldError{{Field: "input",
		Message: fmt.Sprintf("is %d bytes of JSON, over the limit of %d; pass large images by URL", size, MaxInputBytes)}}}
}

// objectSize is the length of fields as a compact JSON object with their
// names unescaped: at most that of the object they were split from, so
// that a body the HTTP API takes has an input Enqueue takes.
func objectSize(fields map[string]json.RawMessage) int {
	size := len("{}") + max(len(fields)-1, 0) // braces and commas
	for name, value := range fields {
		size += len(`"":`) + len(name) + len(value)
	}
	return size
}

// checkInput validates input as Enqueue does: what ParseInput checks, and
// every string and field name that holds U+0000, named by its path as the
// HTTP API names it (prompt, loras[0].path), before the input's other
// problems, as there. It returns the parsed input or every invalid field;
// err is for an input that json.Marshal cannot encode.
func checkInput(input any) (*Input, []fal.FieldError, error) {
	parsed, src, err := decodeInput(input)
	if err == nil {
		// json.Marshal writes no lone surrogate (it writes U+FFFD, as
		// encoding/json reads one), so only a NUL can be found here.
		problem := fal.JSONBEscapeProblem(parsed.encoded)
		if problem == "" {
			return parsed, nil, nil
		}
		nul := nulFieldsInObject(parsed.encoded)
		if len(nul) == 0 { // not expected: the escape is always in a string
			nul = []fal.FieldError{{Field: "input", Message: problem}}
		}
		return nil, nul, nil
	}
	invalid, ok := errors.AsType[*fal.ValidationError](err)
	if !ok {
		return nil, nil, err
	}
	return nil, append(src.nulFields(), invalid.Fields...), nil
}

// inputJSON is an input that failed validation, as JSON (raw) or split
// into its fields, for checkInput to name the NULs in it; empty when its
// size alone refused it.
type inputJSON struct {
	raw    []byte
	fields map[string]json.RawMessage
}

func (src inputJSON) nulFields() []fal.FieldError {
	if src.fields != nil {
		return nulFieldsInFields(src.fields)
	}
	if !json.Valid(src.raw) {
		// Reported as malformed: a NUL found before the error would be
		// half the story.
		return nil
	}
	return nulFieldsInObject(src.raw)
}

// decodeInput is ParseInput, returning also, when input is invalid, what
// it was as JSON.
func decodeInput(input any) (*Input, inputJSON, error) {
	var raw []byte
	switch v := input.(type) {
	case *Input:
		if v == nil || v.encoded == nil {
			// Its fields are unexported: this one did not come from
			// ParseInput, and nothing vouches for it.
			return nil, inputJSON{}, &fal.ValidationError{Fields: []fal.FieldError{{Message: "a jobs.Input must come from jobs.ParseInput"}}}
		}
		return v, inputJSON{}, nil
	case map[string]json.RawMessage:
		if size := objectSize(v); size > MaxInputBytes {
			return nil, inputJSON{}, inputTooLarge(size)
		}
		// Parsing the fields directly means what marshalling them and
		// parsing the object would, without the round trip.
		parsed, err := newInput(fal.ParseImagePromptFields(v))
		return parsed, inputJSON{fields: v}, err
	case json.RawMessage:
		raw = v
	case []byte:
		raw = v
	case string:
		raw = []byte(v)
	default:
		var err error
		if raw, err = json.Marshal(input); err != nil {
			return nil, inputJSON{}, fmt.Errorf("enqueue: encode input: %w", err)
		}
	}
	if len(raw) > MaxInputBytes {
		return nil, inputJSON{}, inputTooLarge(len(raw))
	}
	parsed, err := newInput(fal.ParseImagePromptInput(raw))
	return parsed, inputJSON{raw: raw}, err
}

func newInput(parsed *fal.ImagePromptInput, err error) (*Input, error) {
	if err != nil {
		return nil, err
	}
	encoded, err := json.Marshal(parsed)
	if err != nil {
		return nil, fmt.Errorf("enqueue: encode input: %w", err)
	}
	return &Input{seed: parsed.Seed, encoded: encoded}, nil
}
