package callbacks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of a signed callback, as named by Standard Webhooks.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Tolerance is how far a callback's timestamp may be from the receiver's
// clock for Verify to accept it; it bounds replays.
const Tolerance = 5 * time.Minute

const (
	secretPrefix = "whsec_"
	// Standard Webhooks asks for secrets of 24 to 64 bytes.
	minKeyBytes = 24
	maxKeyBytes = 64
)

// ErrBadSignature is returned by Verify for a callback that was not signed
// with the secret, or not recently.
var ErrBadSignature = errors.New("callback signature did not verify")

// Signer signs and verifies callbacks with one secret.
type Signer struct {
	key []byte
}

// NewSigner parses a secret of the form whsec_<base64 of 24 to 64 bytes>.
// Errors never quote the secret.
func NewSigner(secret string) (*Signer, error) {
	encoded, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return nil, errors.New("callback secret must start with " + secretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return nil, errors.New("callback secret must be " + secretPrefix + " followed by standard base64")
	}
	if len(key) < minKeyBytes || len(key) > maxKeyBytes {
		return nil, fmt.Errorf("callback secret must encode %d to %d bytes, not %d", minKeyBytes, maxKeyBytes, len(key))
	}
	return &Signer{key: key}, nil
}

// Sign returns the webhook-signature value for one attempt at delivering
// body: "v1," and the base64 HMAC-SHA256 of "id.timestamp.body".
func (s *Signer) Sign(id string, timestamp time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(s.mac(id, strconv.FormatInt(timestamp.Unix(), 10), body))
}

// SetHeaders sets the three signature headers on h.
func (s *Signer) SetHeaders(h http.Header, id string, timestamp time.Time, body []byte) {
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(timestamp.Unix(), 10))
	h.Set(HeaderSignature, s.Sign(id, timestamp, body))
}

// Verify checks a received callback's headers against body: one of the
// space-separated v1 signatures must match, and the timestamp must be within
// Tolerance of now. Any failure wraps ErrBadSignature.
func (s *Signer) Verify(h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("%w: missing %s, %s or %s header", ErrBadSignature, HeaderID, HeaderTimestamp, HeaderSignature)
	}
	seconds, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s is not a Unix time", ErrBadSignature, HeaderTimestamp)
	}
	if skew := now.Sub(time.Unix(seconds, 0)); skew > Tolerance || skew < -Tolerance {
		return fmt.Errorf("%w: %s is more than %s away from now", ErrBadSignature, HeaderTimestamp, Tolerance)
	}
	want := s.mac(id, ts, body)
	for sig := range strings.FieldsSeq(sigs) {
		encoded, ok := strings.CutPrefix(sig, "v1,")
		if !ok {
			continue // another scheme, such as v1a (asymmetric)
		}
		got, err := base64.StdEncoding.DecodeString(encoded)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no v1 signature matches", ErrBadSignature)
}

func (s *Signer) mac(id, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}
