package jobs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/easelhq/easel/callbacks"
	"github.com/easelhq/easel/fal"
)

const (
	// MaxMetadataBytes caps the caller's metadata object, measured as
	// stored: compact JSON, each string counted as its text in UTF-8 (an
	// escape such as \u00e9 as the character it stands for) and each number
	// as Postgres writes it (1e3 as 1000). Whitespace and escapes in what
	// the caller sent cost nothing.
	MaxMetadataBytes = 16 << 10
	// MaxIdempotencyKeyLen keeps idempotency keys index-friendly.
	MaxIdempotencyKeyLen = 255
	// MaxClientBytes caps the client name: it is in several of Postgres's
	// btree indexes, whose rows cannot exceed about 2.7 KB, and a longer
	// name would fail the insert and abort the caller's transaction. API
	// key names, the HTTP API's clients, hold at most 100.
	MaxClientBytes = 200
	// MaxRunAtAhead bounds how far ahead RunAt may be: a generation
	// scheduled further out is more likely a mistake (a wrong year, a
	// sentinel such as 9999-12-31) than a plan, and it would count toward
	// MaxPending, unfinished, until then.
	MaxRunAtAhead = 365 * 24 * time.Hour
)

// Validate reports what Enqueue would refuse in o, as an error wrapping a
// *fal.ValidationError (see errors.As) that names every offending option
// by its Go name (Priority, Metadata, CallbackURL, RunAt, IdempotencyKey,
// Schema; a value inside the metadata by its JSON path,
// Metadata.order.items[2]),
// or nil. A nil o, no options, is valid. Enqueue and EnqueuePool apply it
// themselves; the HTTP API also calls it first, to report these with the
// input's own errors, under its own names. It checks only what holds
// wherever the generation is enqueued; what depends on the configuration
// of the process serving the HTTP API (whether it has a callback secret,
// EASEL_ALLOW_PRIVATE_CALLBACKS and the addresses a callback host resolves
// to) is checked by that process alone.
func (o *EnqueueOpts) Validate() error {
	if o == nil {
		return nil
	}
	if _, invalid := validateOpts(o, time.Now()); len(invalid) > 0 {
		return &argumentError{what: "options", invalid: &fal.ValidationError{Fields: invalid}}
	}
	return nil
}

// argumentError is a *fal.ValidationError about Enqueue's arguments, the
// input's fields perhaps among them, whose own message would call them all
// invalid input.
type argumentError struct {
	what    string // "options", "arguments"
	invalid *fal.ValidationError
}

func (e *argumentError) Error() string {
	var b strings.Builder
	b.WriteString("invalid enqueue " + e.what + ": ")
	for i, f := range e.invalid.Fields {
		if i > 0 {
			b.WriteString("; ")
		}
		if f.Field != "" { // the input as a whole, as fal.ValidationError writes it
			b.WriteString(f.Field + ": ")
		}
		b.WriteString(f.Message)
	}
	return b.String()
}

func (e *argumentError) Unwrap() error { return e.invalid }

// validOpts is what Enqueue writes of valid options.
type validOpts struct {
	priority int
	// metadata is the caller's, compacted; nil for none.
	metadata json.RawMessage
	// metadataHash is metadata in a form that is the same exactly when
	// jsonb stores the same value (see canonicalMetadata); nil for none.
	metadataHash json.RawMessage
}

// validateOpts checks what the HTTP API also checks, for Go callers; now
// is the time RunAt is measured from.
func validateOpts(opts *EnqueueOpts, now time.Time) (validOpts, []fal.FieldError) {
	var invalid []fal.FieldError
	add := func(field, message string) {
		invalid = append(invalid, fal.FieldError{Field: field, Message: message})
	}
	v := validOpts{priority: opts.Priority}
	if v.priority == 0 {
		v.priority = 2
	}
	if v.priority < 1 || v.priority > 4 {
		add("Priority", "must be an integer from 1 (highest) to 4 (lowest)")
	}
	var metadataInvalid []fal.FieldError
	v.metadata, v.metadataHash, metadataInvalid = checkMetadata(opts.Metadata, "Metadata")
	invalid = append(invalid, metadataInvalid...)
	if opts.CallbackURL != "" {
		if _, err := callbacks.CheckURLSyntax(opts.CallbackURL); err != nil {
			add("CallbackURL", err.Error())
		}
	}
	if !opts.RunAt.IsZero() && opts.RunAt.Sub(now) > MaxRunAtAhead {
		add("RunAt", fmt.Sprintf("must be at most %d days from now; a time in the past means now", MaxRunAtAhead/(24*time.Hour)))
	}
	if !validIdempotencyKey(opts.IdempotencyKey) {
		add("IdempotencyKey", fmt.Sprintf("must be at most %d printable ASCII characters", MaxIdempotencyKeyLen))
	}
	invalid = append(invalid, checkSchema(opts.Schema)...)
	return v, invalid
}

// ClientProblem says what Enqueue would refuse in a client name, or "" if
// nothing: for a caller that names clients itself, such as
// api.SetClientName.
func ClientProblem(client string) string {
	if invalid := checkClient(client); len(invalid) > 0 {
		return invalid[0].Message
	}
	return ""
}

// checkClient says what is wrong with a client name, or nil.
func checkClient(client string) []fal.FieldError {
	var message string
	switch {
	case client == "":
		message = "must not be empty"
	case len(client) > MaxClientBytes:
		message = fmt.Sprintf("must be at most %d bytes", MaxClientBytes)
	case !utf8.ValidString(client) || strings.ContainsRune(client, 0):
		// Postgres text can hold neither.
		message = "must be UTF-8 text without the NUL character"
	default:
		return nil
	}
	return []fal.FieldError{{Field: "client", Message: message}}
}

// outOfRange is the message for a number that jsonb refuses, or that a
// 64-bit float, what most JSON readers decode a number to, cannot hold.
const outOfRange = "number out of range: it must be within ±1.7976931348623157e308 (a 64-bit float) " +
	"and have at most 16383 digits after the decimal point (Postgres's limit)"

// checkMetadata validates raw as metadata, naming the metadata field and
// what is in it by their paths under field, every problem at once. Valid
// metadata is returned compacted, as it is sent to Postgres, and in the
// canonical form the request hash covers; "null", like nothing, is no
// metadata, as it is over HTTP.
func checkMetadata(raw json.RawMessage, field string) (compact, canonical json.RawMessage, invalid []fal.FieldError) {
	trimmed := bytes.Trim(raw, " \t\r\n") // JSON's whitespace, no other
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return nil, nil, nil
	}
	if !json.Valid(trimmed) || trimmed[0] != '{' {
		return nil, nil, []fal.FieldError{{Field: field, Message: "must be a JSON object"}}
	}
	c := metadataChecker{raw: trimmed}
	c.value(field)
	if c.size > MaxMetadataBytes {
		invalid = append(invalid, fal.FieldError{Field: field, Message: fmt.Sprintf(
			"is %d bytes, over the limit of %d: measured as stored, in compact JSON with every string in UTF-8 "+
				"(an escape such as \\u00e9 counts as the character it stands for) and every number as Postgres writes it (1e3 as 1000)",
			c.size, MaxMetadataBytes)})
	}
	if invalid = append(invalid, c.invalid...); len(invalid) > 0 {
		return nil, nil, invalid
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, trimmed); err != nil {
		panic("jobs: compact valid JSON: " + err.Error())
	}
	return buf.Bytes(), canonicalMetadata(buf.Bytes()), nil
}

// metadataChecker walks a valid JSON document, naming every value that
// jsonb would refuse, alter or that is otherwise invalid by its path, and
// measuring the document as stored (see MaxMetadataBytes).
type metadataChecker struct {
	raw     []byte
	pos     int
	size    int
	invalid []fal.FieldError
}

func (c *metadataChecker) fail(path, message string) {
	c.invalid = append(c.invalid, fal.FieldError{Field: path, Message: message})
}

func (c *metadataChecker) space() {
	for c.pos < len(c.raw) && (c.raw[c.pos] == ' ' || c.raw[c.pos] == '\t' || c.raw[c.pos] == '\n' || c.raw[c.pos] == '\r') {
		c.pos++
	}
}

// take consumes n bytes that are stored as they are.
func (c *metadataChecker) take(n int) {
	c.pos += n
	c.size += n
}

func (c *metadataChecker) value(path string) {
	c.space()
	switch c.raw[c.pos] {
	case '{':
		c.object(path)
	case '[':
		c.array(path)
	case '"':
		if _, problem := c.string(); problem != "" {
			c.fail(path, problem)
		}
	case 't', 'n':
		c.take(4)
	case 'f':
		c.take(5)
	default:
		c.number(path)
	}
}

func (c *metadataChecker) object(path string) {
	c.take(1) // {
	c.space()
	if c.raw[c.pos] == '}' {
		c.take(1)
		return
	}
	// jsonb keeps the last of repeated keys, and the HTTP API refuses
	// repeated fields: what a repeat means is a guess.
	seen := make(map[string]bool)
	for {
		c.space()
		name, problem := c.string()
		field := path + "." + name
		switch {
		case problem != "":
			c.fail(field, "field name "+problem)
		case seen[name]:
			c.fail(field, "duplicate field")
		}
		seen[name] = true
		c.space()
		c.take(1) // :
		c.value(field)
		c.space()
		last := c.raw[c.pos] == '}'
		c.take(1) // , or }
		if last {
			return
		}
	}
}

func (c *metadataChecker) array(path string) {
	c.take(1) // [
	c.space()
	if c.raw[c.pos] == ']' {
		c.take(1)
		return
	}
	for i := 0; ; i++ {
		c.value(fmt.Sprintf("%s[%d]", path, i))
		c.space()
		last := c.raw[c.pos] == ']'
		c.take(1) // , or ]
		if last {
			return
		}
	}
}

// string reads the string at c.pos, returning its text and what jsonb
// would refuse or alter in it ("" if nothing).
func (c *metadataChecker) string() (text, problem string) {
	start := c.pos
	escaped := false
	for c.pos++; c.raw[c.pos] != '"'; c.pos++ {
		if c.raw[c.pos] == '\\' {
			// The escaped character, or the u of \uXXXX, whose digits are
			// neither a quote nor a backslash.
			c.pos++
			escaped = true
		}
	}
	c.pos++
	token := c.raw[start:c.pos]
	if !utf8.Valid(token) {
		// encoding/json would read it as U+FFFD.
		problem = "must be valid UTF-8"
	} else {
		problem = fal.JSONBEscapeProblem(token)
	}
	if escaped || problem != "" {
		if err := json.Unmarshal(token, &text); err != nil {
			panic("jobs: decode a valid JSON string: " + err.Error())
		}
	} else {
		text = string(token[1 : len(token)-1])
	}
	c.size += len(`""`) + len(text)
	return text, problem
}

func (c *metadataChecker) number(path string) {
	start := c.pos
	for c.pos < len(c.raw) && strings.IndexByte("+-.eE0123456789", c.raw[c.pos]) >= 0 {
		c.pos++
	}
	literal := string(c.raw[start:c.pos])
	stored, ok := jsonbNumber(literal)
	if !ok {
		c.fail(path, outOfRange)
		stored = literal
	}
	c.size += len(stored)
}

// Postgres's numeric refuses more digits after the decimal point than
// maxNumericScale, and exponents from about ±1.07e9; jsonbNumber refuses
// from ±maxNumberExponent, which is enough for any float64.
const (
	maxNumericScale   = 16383
	maxNumberExponent = 1_000_000_000
)

// jsonbNumber returns the valid JSON number literal as jsonb stores and
// writes it (Postgres's numeric in text: 1e3 is 1000, 1.50 stays 1.50,
// 1.5e-3 is 0.0015, -0.0 is 0.0), and false if jsonb would refuse it or a
// 64-bit float cannot hold it. Two literals are the same jsonb value
// exactly when it returns the same string for them.
func jsonbNumber(literal string) (string, bool) {
	if f, err := strconv.ParseFloat(literal, 64); err != nil && math.IsInf(f, 0) {
		return "", false
	}
	negative := strings.HasPrefix(literal, "-")
	mantissa, exponent, _ := strings.Cut(strings.ToLower(strings.TrimPrefix(literal, "-")), "e")
	exp := 0
	if exponent != "" {
		var err error
		if exp, err = strconv.Atoi(exponent); err != nil || exp >= maxNumberExponent || exp <= -maxNumberExponent {
			return "", false
		}
	}
	whole, fraction, _ := strings.Cut(mantissa, ".")
	// As numeric does, the scale is the digits after the point as written,
	// shifted by the exponent.
	scale := max(0, len(fraction)-exp)
	if scale > maxNumericScale {
		return "", false
	}
	allDigits := whole + fraction
	digits := strings.TrimLeft(allDigits, "0")
	// point is where the decimal point falls in digits: before digits[point].
	point := len(whole) + exp - (len(allDigits) - len(digits))
	var b strings.Builder
	if digits == "" {
		// Zero has no sign in numeric.
		b.WriteByte('0')
	} else {
		if negative {
			b.WriteByte('-')
		}
		switch {
		case point <= 0:
			b.WriteByte('0')
		case point >= len(digits):
			b.WriteString(digits)
			b.WriteString(strings.Repeat("0", point-len(digits)))
		default:
			b.WriteString(digits[:point])
		}
	}
	if scale > 0 {
		// There are exactly scale digits after the point.
		b.WriteByte('.')
		switch {
		case digits == "":
			b.WriteString(strings.Repeat("0", scale))
		case point < 0:
			b.WriteString(strings.Repeat("0", -point))
			b.WriteString(digits)
		default:
			b.WriteString(digits[point:])
		}
	}
	return b.String(), true
}

// canonicalMetadata returns valid metadata (see checkMetadata) with its
// keys sorted and its numbers as jsonb stores them, so that the same
// metadata, whatever its key order, whitespace and escapes, has one form,
// and metadata that jsonb stores differently, as 9007199254740993 and
// 9007199254740992 or 1 and 1.0, another. Strings and keys are written as
// encoding/json writes them, so that metadata of strings and integers
// below 2^53 has the form an earlier Easel, which read numbers as
// float64s, hashed: an idempotent retry across the upgrade still replays.
func canonicalMetadata(metadata []byte) json.RawMessage {
	dec := json.NewDecoder(bytes.NewReader(metadata))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		panic("jobs: decode valid metadata: " + err.Error())
	}
	out, err := json.Marshal(canonicalNumbers(v))
	if err != nil {
		panic("jobs: encode valid metadata: " + err.Error())
	}
	return out
}

func canonicalNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		n, _ := jsonbNumber(string(v)) // checkMetadata found it valid
		return json.Number(n)
	case map[string]any:
		for k, elem := range v {
			v[k] = canonicalNumbers(elem)
		}
	case []any:
		for i, elem := range v {
			v[i] = canonicalNumbers(elem)
		}
	}
	return v
}

// validIdempotencyKey admits keys of at most MaxIdempotencyKeyLen printable
// ASCII characters, which any HTTP header can carry; "" is no key.
func validIdempotencyKey(key string) bool {
	if len(key) > MaxIdempotencyKeyLen {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return false
		}
	}
	return true
}
