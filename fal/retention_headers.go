package fal

import (
	"fmt"
	"net/http"
	"time"
)

// The headers that make fal keep less of a request (protocol §1.3 and §5):
// by default fal keeps a request's input and output JSON for 30 days, and
// its output media for as long as the account's media retention says,
// forever when it is not set. They are submit headers, fixed when fal
// accepts the request, so status, result and cancel calls do not send them.
const (
	// headerObjectLifecycle carries {"expiration_duration_seconds": N}:
	// the request's output media are deleted for good N seconds after.
	headerObjectLifecycle = "X-Fal-Object-Lifecycle-Preference"

	// headerStoreIO "0" asks fal not to keep the request's JSON.
	headerStoreIO = "X-Fal-Store-IO"
)

// retentionHeaders are the headers every Submit of a Client sends to limit
// what fal keeps, as its ClientConfig asks.
type retentionHeaders struct {
	// objectLifecycle is headerObjectLifecycle's value; empty sends none.
	objectLifecycle string
	// storeIOOff sends headerStoreIO: 0.
	storeIOOff bool
	// err refuses every Submit: a MediaExpiration fal cannot be told.
	err error
}

func newRetentionHeaders(mediaExpiration time.Duration, disableStoreIO bool) retentionHeaders {
	h := retentionHeaders{storeIOOff: disableStoreIO}
	switch {
	case mediaExpiration == 0:
	case mediaExpiration < time.Second || mediaExpiration%time.Second != 0:
		// fal takes whole seconds; rounding either way would keep the
		// media for another time than the one asked for, so nothing is
		// sent rather than something else.
		h.err = fmt.Errorf("%w: media expiration %s is not a whole number of seconds, at least 1s", ErrInvalidRequest, mediaExpiration)
	default:
		// Spelled as fal's documentation writes it; fal reads it as JSON,
		// so the spacing is not significant.
		h.objectLifecycle = fmt.Sprintf(`{"expiration_duration_seconds": %d}`, mediaExpiration/time.Second)
	}
	return h
}

// set adds the headers to a submit's header.
func (h retentionHeaders) set(header http.Header) {
	if h.objectLifecycle != "" {
		header.Set(headerObjectLifecycle, h.objectLifecycle)
	}
	if h.storeIOOff {
		header.Set(headerStoreIO, "0")
	}
}
