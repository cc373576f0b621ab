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
	"strings"
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

// KeyRefresher is a KeySource that says what a refresh did. The Verifier
// refreshes through it, when its KeySource is one, so that the error of a
// signature no key verifies tells a rotation not yet fetched, a key set
// that is not fal's, and a forgery apart. JWKS is one.
type KeyRefresher interface {
	KeySource
	// RefreshKeys is Keys(ctx, true), and what it did.
	RefreshKeys(ctx context.Context) ([]ed25519.PublicKey, KeyRefresh, error)
}

// KeyRefresh is what a KeyRefresher's refresh did.
type KeyRefresh struct {
	// Source is where the keys come from, such as a JWKS's URL without its
	// user information and query: it must hold no secret, as it goes in
	// errors, which a forged webhook gets logged and stored.
	Source string
	// FetchedAt is when the keys returned were fetched.
	FetchedAt time.Time
	// Refetched is whether a fetch ended during the refresh: the keys are
	// then the latest the source serves, unless FetchErr.
	Refetched bool
	// FetchErr is why that fetch failed; the keys are then those fetched
	// at FetchedAt.
	FetchErr error
	// NextFetch is, when no fetch ended, the earliest the next may start:
	// fetches are at most one per MinRefreshInterval.
	NextFetch          time.Time
	MinRefreshInterval time.Duration
	// Now is the source's time of the refresh, which the times above are
	// told relative to.
	Now time.Time
}

// String tells where the keys come from, how old they are, and whether
// they were refetched, or when they can be, such as "from
// https://rest.fal.ai/.well-known/jwks.json, fetched 20s ago; not
// refetched: at most one fetch per 1m0s, the next from
// 2025-10-09T08:54:20Z (in 40s)".
func (r KeyRefresh) String() string {
	var b strings.Builder
	if r.Source != "" {
		b.WriteString("from " + r.Source + ", ")
	}
	switch {
	case r.Refetched && r.FetchErr == nil:
		b.WriteString("refetched just now")
	case r.Refetched:
		fmt.Fprintf(&b, "fetched %s; refetching failed: %v", ago(r.Now, r.FetchedAt), r.FetchErr)
	default:
		fmt.Fprintf(&b, "fetched %s; not refetched: at most one fetch per %s, the next from %s (in %s)",
			ago(r.Now, r.FetchedAt), r.MinRefreshInterval, r.NextFetch.UTC().Format(time.RFC3339),
			max(r.NextFetch.Sub(r.Now), 0).Round(time.Second))
	}
	return b.String()
}

// ago says how long before now at was.
func ago(now, at time.Time) string {
	if at.IsZero() {
		return "never"
	}
	return max(now.Sub(at), 0).Round(time.Second).String() + " ago"
}

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	// Keys supplies fal's public keys; nil means NewJWKS with
	// DefaultJWKSURL.
	Keys KeySource

	// Tolerance is how far the signed timestamp may be from now; 0 means
	// DefaultWebhookTolerance.
	Tolerance time.Duration

	// now replaces time.Now, so that tests check old signatures.
	now func() time.Time
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
	v := &Verifier{keys: cfg.Keys, tolerance: cfg.Tolerance, now: cfg.now}
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
// keys, and the error says how many keys were tried and, from a
// KeyRefresher, where from and whether they were refetched. Every error
// wraps one of the Err variables above.
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

	tried := len(keys)
	refresher, reports := v.keys.(KeyRefresher)
	var refresh KeyRefresh
	if reports {
		keys, refresh, err = refresher.RefreshKeys(ctx)
	} else {
		keys, err = v.keys.Keys(ctx, true)
	}
	if err != nil {
		// The refresh's error is quoted, not wrapped: errors.Is must find
		// ErrBadSignature alone, not a context error or an ErrNoKeys of
		// the source's that the receiver would answer 503.
		from := ""
		if refresh.Source != "" {
			from = " from " + refresh.Source
		}
		return fmt.Errorf("%w: tried %s%s; refreshing them failed: %v", ErrBadSignature, countKeys(tried), from, err)
	}
	if verifiesAny(keys, msg, sig) {
		return nil
	}
	if !reports {
		return fmt.Errorf("%w: tried %s", ErrBadSignature, countKeys(len(keys)))
	}
	return fmt.Errorf("%w: tried %s %s", ErrBadSignature, countKeys(len(keys)), refresh)
}

func countKeys(n int) string {
	if n == 1 {
		return "1 key"
	}
	return strconv.Itoa(n) + " keys"
}

// SignWebhook returns the signature headers fal sends with a webhook body,
// signed with key at time at: how falsim signs the webhooks it sends, and
// how tests forge them.
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
