package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/jobs"
)

const (
	// MaxBodyBytes caps an enqueue request: room for one data: URI image of
	// fal.MaxImageDataSize, base64-encoded. Larger inputs belong at a URL.
	// It is Enqueue's cap on the input alone, which a body within it
	// always meets.
	MaxBodyBytes = jobs.MaxInputBytes
	// MaxMetadataBytes caps the caller's metadata object.
	MaxMetadataBytes = jobs.MaxMetadataBytes
)

// idempotencyKeyHeader carries EnqueueOpts.IdempotencyKey.
const idempotencyKeyHeader = "Idempotency-Key"

// apiFields are the body fields that belong to Easel rather than to fal's
// input.
var apiFields = []string{"priority", "metadata", "callback_url", "run_at"}

// createRequest is a valid POST /v1/generations.
type createRequest struct {
	input *jobs.Input // validated, so not parsed again when enqueued
	opts  jobs.EnqueueOpts
}

// readCreateRequest reads and validates an enqueue request. A rejected
// request is an *apierror.Error; an invalid body is reported with every
// offending field at once.
func readCreateRequest(c echo.Context) (*createRequest, error) {
	req := c.Request()
	if mediaType, _, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType)); err != nil || mediaType != echo.MIMEApplicationJSON {
		return nil, apierror.New(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")
	}
	tooLarge := apierror.New(http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body exceeds %d bytes", MaxBodyBytes))
	// A declared length over the limit is refused before the body is read,
	// and so before net/http answers Expect: 100-continue, which it does
	// on the first read: the client need not send what will be refused.
	if req.ContentLength > MaxBodyBytes {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge
		}
		return nil, apierror.New(http.StatusBadRequest, "malformed", "read request body: "+err.Error())
	}

	fields, details, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	opts, optDetails := enqueueOpts(fields)
	switch keys := req.Header.Values(idempotencyKeyHeader); {
	case len(keys) == 0:
	case len(keys) == 1 && keys[0] == "":
		// Read as no key, each retry would enqueue again: the caller
		// meant to send one and its value was lost.
		optDetails = append(optDetails, apierror.Detail{Field: idempotencyKeyHeader,
			Message: "must not be empty; omit the header to enqueue without a key"})
	case len(keys) == 1:
		opts.IdempotencyKey = keys[0]
	default:
		// Which one a retry would send is anyone's guess.
		optDetails = append(optDetails, apierror.Detail{Field: idempotencyKeyHeader, Message: "must be given once"})
	}
	// What Enqueue would refuse in the options is reported now, with the
	// rest, but not twice: a field already named (callback_url for a NUL in
	// it) is not named again.
	for _, d := range optionDetails(opts.Validate()) {
		if !named(details, d.Field) && !named(optDetails, d.Field) {
			optDetails = append(optDetails, d)
		}
	}
	slices.SortStableFunc(optDetails, func(a, b apierror.Detail) int {
		return optionOrder(a.Field) - optionOrder(b.Field)
	})
	for _, f := range apiFields {
		delete(fields, f)
	}
	input, err := jobs.ParseInput(fields)
	details = append(details, validationDetails(err)...)
	details = append(details, optDetails...)
	_, queryDetails := readQuery(req, "creating a generation takes none")
	details = append(details, queryDetails...)
	if len(details) > 0 {
		return nil, invalidRequest(details)
	}
	if err != nil {
		return nil, fmt.Errorf("parse input: %w", err)
	}
	return &createRequest{input: input, opts: opts}, nil
}

func invalidRequest(details []apierror.Detail) *apierror.Error {
	return &apierror.Error{Status: http.StatusUnprocessableEntity, Code: "invalid_request",
		Message: fmt.Sprintf("%d invalid field(s)", len(details)), Details: details}
}

// optionDetails lists the fields named by a *fal.ValidationError from
// package jobs, by the names the HTTP API gives them.
func optionDetails(err error) []apierror.Detail {
	details := validationDetails(err)
	for i, d := range details {
		details[i].Field = httpField(d.Field)
	}
	return details
}

// httpFields are the HTTP names of the EnqueueOpts fields that jobs names
// by their Go names.
var httpFields = map[string]string{
	"Priority":       "priority",
	"Metadata":       "metadata",
	"CallbackURL":    "callback_url",
	"RunAt":          "run_at",
	"IdempotencyKey": idempotencyKeyHeader,
}

// httpField renames the option a jobs field path starts with, keeping the
// path inside it: Metadata.a[0] is metadata.a[0].
func httpField(field string) string {
	end := strings.IndexAny(field, ".[")
	if end < 0 {
		end = len(field)
	}
	if name, ok := httpFields[field[:end]]; ok {
		return name + field[end:]
	}
	return field
}

// validationDetails lists the fields named by a *fal.ValidationError.
func validationDetails(err error) []apierror.Detail {
	var invalid *fal.ValidationError
	if !errors.As(err, &invalid) {
		return nil
	}
	details := make([]apierror.Detail, len(invalid.Fields))
	for i, fe := range invalid.Fields {
		details[i] = apierror.Detail{Field: fe.Field, Message: fe.Message}
	}
	return details
}

// decodeObject splits a JSON object body into its top-level fields.
// Malformed JSON is a 400 giving the byte offset; a repeated field, whose
// meaning would depend on the parser, is reported as a detail.
func decodeObject(body []byte) (map[string]json.RawMessage, []apierror.Detail, error) {
	if err := checkJSON(body); err != nil {
		return nil, nil, err
	}
	if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, nil, apierror.New(http.StatusBadRequest, "malformed", "request body must be a JSON object")
	}
	fields := make(map[string]json.RawMessage)
	var details []apierror.Detail
	for name, value := range fal.ObjectFields(body) {
		if _, dup := fields[name]; dup {
			details = append(details, apierror.Detail{Field: name, Message: "duplicate field"})
		}
		fields[name] = value
		if name != "metadata" {
			// EnqueueOpts.Validate names every problem in the metadata.
			details = append(details, nulDetails(name, value)...)
		}
	}
	return fields, details, nil
}

// checkJSON reports malformed JSON with the offset, counted from 0, of the
// first byte that makes it so (the length of the body if it ends early).
// encoding/json's own offsets are relative to what a Decoder has scanned,
// and so are not used.
func checkJSON(body []byte) error {
	if json.Valid(body) {
		// JSON text is UTF-8 (RFC 8259), and Postgres stores nothing else.
		for i := 0; i < len(body); {
			r, size := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && size == 1 {
				return apierror.New(http.StatusBadRequest, "malformed", fmt.Sprintf("malformed JSON at byte offset %d: invalid UTF-8", i))
			}
			i += size
		}
		return nil
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return apierror.New(http.StatusBadRequest, "malformed", "request body is empty; send a JSON object")
	}
	var syntaxErr *json.SyntaxError
	if err := json.Unmarshal(body, new(json.RawMessage)); !errors.As(err, &syntaxErr) {
		return apierror.New(http.StatusBadRequest, "malformed", "malformed JSON")
	}
	// Unmarshal counts the offending byte in Offset; at the end of the input
	// there is none.
	offset := syntaxErr.Offset - 1
	if offset == int64(len(body))-1 && strings.HasPrefix(syntaxErr.Error(), "unexpected end") {
		offset = int64(len(body))
	}
	return apierror.New(http.StatusBadRequest, "malformed", fmt.Sprintf("malformed JSON at byte offset %d: %v", offset, syntaxErr))
}

// nulDetails names every string and key of the valid JSON value of the
// body's field name that holds U+0000 (fal.NULFields).
func nulDetails(name string, value json.RawMessage) []apierror.Detail {
	var details []apierror.Detail
	for _, f := range fal.NULFields(name, value) {
		details = append(details, apierror.Detail{Field: f.Field, Message: f.Message})
	}
	return details
}

// named reports whether details name field or a part of it.
func named(details []apierror.Detail, field string) bool {
	for _, d := range details {
		if d.Field == field || strings.HasPrefix(d.Field, field+".") || strings.HasPrefix(d.Field, field+"[") {
			return true
		}
	}
	return false
}

// optionOrder orders the details of Easel's own fields, and of what is
// inside them (metadata.a), as the body lists them, then the header.
func optionOrder(field string) int {
	if end := strings.IndexAny(field, ".["); end >= 0 {
		field = field[:end]
	}
	if i := slices.Index(apiFields, field); i >= 0 {
		return i
	}
	return len(apiFields)
}

// enqueueOpts reads Easel's own body fields, naming each one of the wrong
// JSON type. null means absent, as it does for fal's fields. What their
// values may be is EnqueueOpts.Validate's to say, as for Go callers, but
// for priority: 0 means the default to Enqueue, and is refused here.
func enqueueOpts(fields map[string]json.RawMessage) (jobs.EnqueueOpts, []apierror.Detail) {
	var opts jobs.EnqueueOpts
	var details []apierror.Detail
	invalid := func(field, message string) {
		details = append(details, apierror.Detail{Field: field, Message: message})
	}

	if raw, ok := fields["priority"]; ok && !isNullLiteral(raw) {
		if err := json.Unmarshal(raw, &opts.Priority); err != nil || opts.Priority < 1 || opts.Priority > 4 {
			invalid("priority", "must be an integer from 1 (highest) to 4 (lowest)")
			opts.Priority = 0
		}
	}
	if raw, ok := fields["metadata"]; ok {
		opts.Metadata = raw // Validate refuses anything but an object or null
	}
	if raw, ok := fields["callback_url"]; ok && !isNullLiteral(raw) {
		switch err := json.Unmarshal(raw, &opts.CallbackURL); {
		case err != nil:
			invalid("callback_url", "must be an absolute http or https URL")
		case opts.CallbackURL == "":
			// To Enqueue "" means no callback; a caller that sends it
			// meant one, and would wait for it forever.
			invalid("callback_url", "must be an absolute http or https URL; omit the field for no callback")
		}
	}
	if raw, ok := fields["run_at"]; ok && !isNullLiteral(raw) {
		var s string
		err := json.Unmarshal(raw, &s)
		if err == nil {
			opts.RunAt, err = time.Parse(time.RFC3339, s)
		}
		if err != nil {
			invalid("run_at", "must be an RFC 3339 timestamp such as 2026-01-02T15:04:05Z")
		}
	}
	return opts, details
}

// isNullLiteral reports whether raw is exactly the JSON literal null. The
// values of a decoded object carry no surrounding whitespace and are never
// empty, so unlike a raw body from elsewhere this needs no trimming.
func isNullLiteral(raw json.RawMessage) bool { return string(raw) == "null" }
