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
// clock for Verify to accept it. It bounds replays to that window; within
// it, only deduplicating on webhook-id stops one.
const Tolerance = 5 * time.Minute

const (
	secretPrefix = "whsec_"
	// Standard Webhooks asks for secrets of 24 to 64 bytes.
	minKeyBytes = 24
	maxKeyBytes = 64
	// clientKeyContext separates the derivation of client secrets from any
	// other use of a master secret; the NUL ends it, so that no client name
	// can extend it.
	clientKeyContext = "easel-callback-v1\x00"
)

// ErrBadSignature is returned by Verify for a callback that was not signed
// with the secret, or not recently.
var ErrBadSignature = errors.New("callback signature did not verify")

// Secrets are Easel's master callback secrets (EASEL_CALLBACK_SECRET), the
// current one first. No callback is signed with a master secret itself:
// each client's callbacks are signed with that client's secret, derived
// from a master as HMAC-SHA256(master, "easel-callback-v1\x00" + client),
// so that a receiver holding its own client's secret can neither verify
// nor forge the callbacks of another client's generations. During a
// rotation there are several masters, and every callback carries one
// signature per master.
type Secrets struct {
	masters [][]byte
}

// ParseSecrets reads one or more whsec_ secrets separated by white space,
// the current one first; the base64 of each may be padded or not. Errors
// name a secret by its position, never quote it.
func ParseSecrets(value string) (*Secrets, error) {
	fields := strings.Fields(value)
	if len(fields) == 0 {
		return nil, errors.New("no callback secret given")
	}
	s := &Secrets{}
	for i, f := range fields {
		key, err := parseSecret(f)
		if err != nil {
			if len(fields) > 1 {
				return nil, fmt.Errorf("secret %d of %d: %w", i+1, len(fields), err)
			}
			return nil, err
		}
		for j, earlier := range s.masters {
			if hmac.Equal(earlier, key) {
				return nil, fmt.Errorf("secret %d of %d repeats secret %d", i+1, len(fields), j+1)
			}
		}
		s.masters = append(s.masters, key)
	}
	return s, nil
}

// ClientSecret returns the secret, whsec_<base64>, that client's receivers
// verify its callbacks with: the one derived from the current master.
func (s *Secrets) ClientSecret(client string) string {
	return secretPrefix + base64.StdEncoding.EncodeToString(clientKey(s.masters[0], client))
}

// clientKeys returns client's keys, one per master, the current first.
func (s *Secrets) clientKeys(client string) [][]byte {
	keys := make([][]byte, len(s.masters))
	for i, m := range s.masters {
		keys[i] = clientKey(m, client)
	}
	return keys
}

func clientKey(master []byte, client string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte(clientKeyContext))
	m.Write([]byte(client))
	return m.Sum(nil)
}

// parseSecret decodes whsec_<base64 of 24 to 64 bytes>. The base64 may
// leave its padding out: some tools print it so, and the key is the same.
func parseSecret(secret string) ([]byte, error) {
	encoded, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return nil, errors.New("callback secret must start with " + secretPrefix)
	}
	encoding := base64.StdEncoding
	if !strings.HasSuffix(encoded, "=") {
		encoding = base64.RawStdEncoding
	}
	key, err := encoding.DecodeString(encoded)
	if err != nil {
		return nil, errors.New("callback secret must be " + secretPrefix + " followed by standard base64, padded with = or not")
	}
	if len(key) < minKeyBytes || len(key) > maxKeyBytes {
		return nil, fmt.Errorf("callback secret must encode %d to %d bytes, not %d", minKeyBytes, maxKeyBytes, len(key))
	}
	return key, nil
}

// Signer signs and verifies callbacks with one secret: on the receiving
// side, the client secret that easel keys callback-secret prints.
type Signer struct {
	key []byte
}

// NewSigner parses a secret of the form whsec_<base64 of 24 to 64 bytes>,
// padded or not. Errors never quote the secret.
func NewSigner(secret string) (*Signer, error) {
	key, err := parseSecret(secret)
	if err != nil {
		return nil, err
	}
	return &Signer{key: key}, nil
}

// Sign returns the webhook-signature value for one attempt at delivering
// body: "v1," and the base64 HMAC-SHA256 of "id.timestamp.body".
func (s *Signer) Sign(id string, timestamp time.Time, body []byte) string {
	return signature(s.key, id, strconv.FormatInt(timestamp.Unix(), 10), body)
}

// Verify checks a received callback's headers against body: one of the
// space-separated v1 signatures must match, and the timestamp must be within
// Tolerance of now. Any failure wraps ErrBadSignature.
//
// A callback that verifies was sent by Easel for a generation of the client
// whose secret s holds, within Tolerance; it may still be a retry or a
// replay of one already received, which only the receiver can tell, by
// its webhook-id.
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
	want := mac(s.key, id, ts, body)
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

// setHeaders sets the three signature headers on h, with one signature per
// key.
func setHeaders(h http.Header, keys [][]byte, id string, timestamp time.Time, body []byte) {
	ts := strconv.FormatInt(timestamp.Unix(), 10)
	sigs := make([]string, len(keys))
	for i, k := range keys {
		sigs[i] = signature(k, id, ts, body)
	}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderSignature, strings.Join(sigs, " "))
}

func signature(key []byte, id, timestamp string, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, timestamp, body))
}

func mac(key []byte, id, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}
