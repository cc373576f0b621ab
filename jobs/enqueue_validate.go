package jobs

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/easelhq/easel/callbacks"
	"github.com/easelhq/easel/fal"
)

const (
	// MaxMetadataBytes caps the caller's metadata object.
	MaxMetadataBytes = 16 << 10
	// MaxIdempotencyKeyLen keeps idempotency keys index-friendly.
	MaxIdempotencyKeyLen = 255
	// MaxRunAtAhead bounds how far ahead RunAt may be: a generation
	// scheduled further out is more likely a mistake (a wrong year, a
	// sentinel such as 9999-12-31) than a plan, and it would count toward
	// MaxPending, unfinished, until then.
	MaxRunAtAhead = 365 * 24 * time.Hour
)

// Validate reports what Enqueue would refuse in o, as a
// *fal.ValidationError naming every offending option by the name the HTTP
// API gives it (priority, metadata, callback_url, run_at, Idempotency-Key),
// or nil. Enqueue and EnqueuePool apply it themselves; the HTTP API also
// calls it first, to report these with the input's own errors. It checks
// only what holds wherever the generation is enqueued; what depends on the
// configuration of the process serving the HTTP API (whether it has a
// callback secret, EASEL_ALLOW_PRIVATE_CALLBACKS and the addresses a
// callback host resolves to) is checked by that process alone.
func (o *EnqueueOpts) Validate() error {
	priority := o.Priority
	if priority == 0 {
		priority = 2
	}
	if invalid := validateOpts(priority, o, time.Now()); len(invalid) > 0 {
		return &fal.ValidationError{Fields: invalid}
	}
	return nil
}

// validateOpts checks what the HTTP API also checks, for Go callers; now
// is the time RunAt is measured from.
func validateOpts(priority int, opts *EnqueueOpts, now time.Time) []fal.FieldError {
	var invalid []fal.FieldError
	add := func(field, message string) {
		invalid = append(invalid, fal.FieldError{Field: field, Message: message})
	}
	if priority < 1 || priority > 4 {
		add("priority", "must be an integer from 1 (highest) to 4 (lowest)")
	}
	if len(opts.Metadata) > 0 {
		if message := metadataProblem(opts.Metadata); message != "" {
			add("metadata", message)
		}
	}
	if opts.CallbackURL != "" {
		if _, err := callbacks.CheckURLSyntax(opts.CallbackURL); err != nil {
			add("callback_url", err.Error())
		}
	}
	if !opts.RunAt.IsZero() && opts.RunAt.Sub(now) > MaxRunAtAhead {
		add("run_at", fmt.Sprintf("must be at most %d days from now; a time in the past means now", MaxRunAtAhead/(24*time.Hour)))
	}
	if !validIdempotencyKey(opts.IdempotencyKey) {
		add("Idempotency-Key", fmt.Sprintf("must be at most %d printable ASCII characters", MaxIdempotencyKeyLen))
	}
	return invalid
}

// metadataProblem says why raw cannot be stored as metadata, or "".
func metadataProblem(raw json.RawMessage) string {
	var m map[string]any
	switch {
	case !utf8.Valid(raw) || json.Unmarshal(raw, &m) != nil || m == nil:
		return "must be a JSON object"
	case len(raw) > MaxMetadataBytes:
		return fmt.Sprintf("must be at most %d bytes", MaxMetadataBytes)
	}
	switch jsonbEscapeProblem(raw) {
	case escapeNUL:
		return "must not contain the NUL character (\\u0000)"
	case escapeLoneSurrogate:
		return "must not contain an unpaired UTF-16 surrogate escape such as \\ud800"
	}
	return ""
}

// escapeProblem is an escape in valid JSON that encoding/json reads but
// Postgres's jsonb refuses (SQLSTATE 22P02 or 22P05).
type escapeProblem int

const (
	escapeOK escapeProblem = iota
	// escapeNUL is \u0000: Postgres stores U+0000 neither in text nor in
	// jsonb.
	escapeNUL
	// escapeLoneSurrogate is a \uD800-\uDFFF escape that is not a high
	// surrogate directly followed by a low one. encoding/json reads it as
	// U+FFFD; Postgres refuses the document.
	escapeLoneSurrogate
)

// jsonbEscapeProblem finds the first escape of the valid JSON document raw
// that jsonb refuses. A backslash appears only inside strings in valid
// JSON, so escapes are found without tracking strings, and an escaped
// backslash (\\u0000 is the six characters \u0000, which jsonb takes) is
// skipped whole.
func jsonbEscapeProblem(raw []byte) escapeProblem {
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
			return escapeOK // not valid JSON: not this check's concern
		}
		switch {
		case r == 0:
			return escapeNUL
		case r >= 0xdc00 && r <= 0xdfff:
			return escapeLoneSurrogate
		case r >= 0xd800 && r <= 0xdbff:
			// A high surrogate must be followed at once by \u and a low one.
			j := i + 6
			low, ok := rune(0), j+1 < len(raw) && raw[j] == '\\' && raw[j+1] == 'u'
			if ok {
				low, ok = hex4(raw, j+2)
			}
			if !ok || low < 0xdc00 || low > 0xdfff {
				return escapeLoneSurrogate
			}
			i = j + 5
		default:
			i += 5
		}
	}
	return escapeOK
}

// hex4 reads the four hex digits of a \u escape at raw[at:].
func hex4(raw []byte, at int) (rune, bool) {
	if at+4 > len(raw) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(raw[at:at+4]), 16, 16)
	return rune(n), err == nil
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
