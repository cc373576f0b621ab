package fal

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Webhook signature headers (protocol §3).
const (
	headerWebhookRequestID = "X-Fal-Webhook-Request-Id"
	headerWebhookUserID    = "X-Fal-Webhook-User-Id"
	headerWebhookTimestamp = "X-Fal-Webhook-Timestamp"
	headerWebhookSignature = "X-Fal-Webhook-Signature"
)

// DefaultWebhookTolerance is how far a webhook's timestamp may be from now.
const DefaultWebhookTolerance = 300 * time.Second

// Errors returned by Verifier.Verify, wrapped with detail. All but ErrNoKeys
// mean the request is not a genuine, fresh fal webhook. ErrNoKeys means it
// could not be checked at all; answer it with a 5xx so that fal retries.
var (
	ErrMissingHeader      = errors.New("fal webhook: missing signature header")
	ErrStaleTimestamp     = errors.New("fal webhook: timestamp outside tolerance")
	ErrMalformedSignature = errors.New("fal webhook: malformed signature")
	ErrBadSignature       = errors.New("fal webhook: signature does not verify")
	ErrNoKeys             = errors.New("fal webhook: no verification keys")
)

// KeySource supplies the public keys fal signs webhooks with.
type KeySource interface {
	// Keys returns the current public keys; refresh=true asks for a refetch
	// (implementations rate-limit it).
	Keys(ctx context.Context, refresh bool) ([]ed25519.PublicKey, error)
}

// StaticKeys is a fixed KeySource, for tests and simulators.
type StaticKeys []ed25519.PublicKey

// Keys returns the keys; refreshing changes nothing.
func (s StaticKeys) Keys(context.Context, bool) ([]ed25519.PublicKey, error) {
	return s, nil
}

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	// Keys supplies fal's public keys; nil means NewJWKS with
	// DefaultJWKSURL.
	Keys KeySource

	// Tolerance is how far the signed timestamp may be from now; 0 means
	// DefaultWebhookTolerance.
	Tolerance time.Duration

	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Verifier checks the signatures of fal's webhooks. It is safe for
// concurrent use.
type Verifier struct {
	keys      KeySource
	tolerance time.Duration
	now       func() time.Time
}

// NewVerifier returns a verifier for cfg.
func NewVerifier(cfg VerifierConfig) *Verifier {
	v := &Verifier{keys: cfg.Keys, tolerance: cfg.Tolerance, now: cfg.Now}
	if v.keys == nil {
		v.keys = NewJWKS(JWKSConfig{})
	}
	if v.tolerance <= 0 {
		v.tolerance = DefaultWebhookTolerance
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v
}

// Verify checks that body, with headers h, was signed by fal within the
// tolerance (protocol §3). fal names no key, so every key is tried; when none
// verifies, the key source is asked to refresh once in case fal rotated its
// keys. Every error wraps one of the Err variables above.
func (v *Verifier) Verify(ctx context.Context, h http.Header, body []byte) error {
	requestID := h.Get(headerWebhookRequestID)
	userID := h.Get(headerWebhookUserID)
	timestamp := h.Get(headerWebhookTimestamp)
	signature := h.Get(headerWebhookSignature)
	for _, header := range []struct{ name, value string }{
		{headerWebhookRequestID, requestID},
		{headerWebhookUserID, userID},
		{headerWebhookTimestamp, timestamp},
		{headerWebhookSignature, signature},
	} {
		if header.value == "" {
			return fmt.Errorf("%w: %s", ErrMissingHeader, header.name)
		}
	}

	unix, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		// The header is the sender's, unverified and up to the server's
		// header limit long: only its start is quoted, as the error is
		// logged and stored.
		return fmt.Errorf("%w: %s is not a Unix time", ErrStaleTimestamp, quoteShort(timestamp))
	}
	signed := time.Unix(unix, 0)
	if skew := v.now().Sub(signed); skew > v.tolerance || skew < -v.tolerance {
		when := skew.Round(time.Second).String() + " ago"
		if skew < 0 {
			when = (-skew).Round(time.Second).String() + " from now"
		}
		// The parsed time, not the header: ParseInt takes any number of
		// leading zeros.
		return fmt.Errorf("%w: signed at %d (%s), %s", ErrStaleTimestamp, unix, signed.UTC().Format(time.RFC3339), when)
	}

	if len(signature) != 2*ed25519.SignatureSize {
		return fmt.Errorf("%w: %d hex digits, want %d", ErrMalformedSignature, len(signature), 2*ed25519.SignatureSize)
	}
	sig, err := hex.DecodeString(signature)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedSignature, err)
	}

	msg := signedMessage(requestID, userID, timestamp, body)
	keys, err := v.keys.Keys(ctx, false)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoKeys, err)
	}
	if len(keys) == 0 {
		return ErrNoKeys
	}
	if verifiesAny(keys, msg, sig) {
		return nil
	}

	keys, err = v.keys.Keys(ctx, true)
	if err != nil {
		return fmt.Errorf("%w (refreshing keys failed: %v)", ErrBadSignature, err)
	}
	if verifiesAny(keys, msg, sig) {
		return nil
	}
	return ErrBadSignature
}

// SignWebhook returns the signature headers fal sends with a webhook body,
// signed with key at time at. It is for simulators and tests.
func SignWebhook(key ed25519.PrivateKey, requestID, userID string, at time.Time, body []byte) http.Header {
	timestamp := strconv.FormatInt(at.Unix(), 10)
	sig := ed25519.Sign(key, signedMessage(requestID, userID, timestamp, body))
	h := make(http.Header, 4)
	h.Set(headerWebhookRequestID, requestID)
	h.Set(headerWebhookUserID, userID)
	h.Set(headerWebhookTimestamp, timestamp)
	h.Set(headerWebhookSignature, hex.EncodeToString(sig))
	return h
}

// signedMessage is what fal signs: the header values and the body's hex
// SHA-256, joined by newlines.
func signedMessage(requestID, userID, timestamp string, body []byte) []byte {
	sum := sha256.Sum256(body)
	return []byte(requestID + "\n" + userID + "\n" + timestamp + "\n" + hex.EncodeToString(sum[:]))
}

func verifiesAny(keys []ed25519.PublicKey, msg, sig []byte) bool {
	for _, key := range keys {
		// ed25519.Verify panics on a key of the wrong size.
		if len(key) == ed25519.PublicKeySize && ed25519.Verify(key, msg, sig) {
			return true
		}
	}
	return false
}
