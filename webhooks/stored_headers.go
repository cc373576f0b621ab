package webhooks

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"
)

// A delivery's headers are whatever its sender chose until its signature
// verifies, up to the HTTP server's limit (64 KiB in easel serve, 1 MiB in
// net/http by default). What the receiver keeps of them, in webhook_events
// and in the log, is bounded, so that forged deliveries cannot write more
// than a few KiB each.
const (
	// maxHeaderValueBytes caps each header name and value kept or logged.
	// fal's own are far shorter: a UUID, a user id, a Unix time, 128 hex
	// digits.
	maxHeaderValueBytes = 256
	// maxStoredHeadersBytes caps the headers kept of one delivery, each cut
	// first, as JSON: what webhook_events.headers holds.
	maxStoredHeadersBytes = 4 << 10
	// omittedHeadersKey names, in a stored header map, how many headers
	// were left out. No header can have this name: parentheses are not
	// allowed in one.
	omittedHeadersKey = "(omitted)"
)

// boundedHeader returns s whole if it is at most maxHeaderValueBytes long,
// else its start, cut at a character boundary, marked as cut and with the
// length it had. Bytes that are not UTF-8, which HTTP allows in a header
// and a text column refuses, become U+FFFD.
func boundedHeader(s string) string {
	if len(s) > maxHeaderValueBytes {
		cut := maxHeaderValueBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = fmt.Sprintf("%s… (cut from %d bytes)", s[:cut], len(s))
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// keptHeaders are the request headers worth keeping with an event: values
// that could carry credentials are never stored, and the others are bounded
// by boundedHeader and, in all, by maxStoredHeadersBytes. fal's signature
// headers come first, so that a flood of others cannot crowd them out; the
// rest follow by name, and those that no longer fit are left out and
// counted under omittedHeadersKey.
func keptHeaders(h http.Header) map[string]string {
	names := make([]string, 0, len(h))
	for name := range h {
		switch strings.ToLower(name) {
		case "authorization", "cookie", "proxy-authorization":
			continue
		}
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		aFal, bFal := isFalWebhookHeader(a), isFalWebhookHeader(b)
		if aFal != bFal {
			if aFal {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})

	kept := make(map[string]string, min(len(names), 32))
	size, omitted := len("{}"), 0
	for _, name := range names {
		k, v := boundedHeader(name), boundedHeader(strings.Join(h[name], ", "))
		// As jsonb prints it: "k": "v", with the separator.
		entry := jsonLen(k) + len(": ") + jsonLen(v) + len(", ")
		if size+entry > maxStoredHeadersBytes {
			omitted++
			continue
		}
		kept[k] = v
		size += entry
	}
	if omitted > 0 {
		kept[omittedHeadersKey] = fmt.Sprintf("%d headers beyond the %d bytes kept", omitted, maxStoredHeadersBytes)
	}
	return kept
}

// jsonLen is the length of s as a JSON string, quotes and escapes included:
// at least what jsonb prints for it, which does not escape <, > and &.
func jsonLen(s string) int {
	quoted, err := json.Marshal(s)
	if err != nil {
		// A string always marshals; were it not to, count it as
		// escaped throughout.
		return 6*len(s) + 2
	}
	return len(quoted)
}

// isFalWebhookHeader reports whether name is one of the headers fal signs
// a webhook with.
func isFalWebhookHeader(name string) bool {
	return strings.HasPrefix(strings.ToLower(name), "x-fal-webhook-")
}
