package fal

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/faltest"
)

// The test vector of fal-protocol.md §3.
const (
	vectorRequestID = "5b0c1f0e-8f4a-4c43-9d0e-3f1b6a2c7d11"
	vectorUserID    = "test-user"
	vectorTimestamp = "1760000000"
	vectorBody      = `{"error": null, "gateway_request_id": "5b0c1f0e-8f4a-4c43-9d0e-3f1b6a2c7d11", "payload": {"has_nsfw_concepts": [false], "images": [{"content_type": "image/jpeg", "file_name": "a1.jpeg", "file_size": 123456, "height": 1024, "url": "https://v3.fal.media/files/x/a1.jpeg", "width": 1024}], "timings": {"inference": 3.5}}, "request_id": "5b0c1f0e-8f4a-4c43-9d0e-3f1b6a2c7d11", "status": "OK"}`
	vectorSignature = "3cecb2d77e85a3deec5ed544f08dabf197cfcb305abe2339daaf749b08dbca312f4bf552925b3b1d1a8c33e3186da62f1aa1ee07b82bb648794c76820054f201"
	vectorJWKS      = `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"}]}`
)

var vectorTime = time.Unix(1760000000, 0)

// vectorKey is the vector's private key: seed bytes 0x00 to 0x1f.
func vectorKey() ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	return ed25519.NewKeyFromSeed(seed)
}

func publicKey(key ed25519.PrivateKey) ed25519.PublicKey {
	return key.Public().(ed25519.PublicKey)
}

func newTestKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	return key
}

func vectorHeader() http.Header {
	h := http.Header{}
	h.Set("X-Fal-Webhook-Request-Id", vectorRequestID)
	h.Set("X-Fal-Webhook-User-Id", vectorUserID)
	h.Set("X-Fal-Webhook-Timestamp", vectorTimestamp)
	h.Set("X-Fal-Webhook-Signature", vectorSignature)
	return h
}

func TestVerifierVerify(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		header  func(h http.Header)
		body    string
		keys    KeySource
		now     time.Time
		wantErr error
	}{
		{name: "Valid"},
		{name: "ValidAtToleranceInThePast", now: vectorTime.Add(300 * time.Second)},
		{name: "ValidAtToleranceInTheFuture", now: vectorTime.Add(-300 * time.Second)},
		{name: "ValidUppercaseHex", header: func(h http.Header) {
			h.Set("X-Fal-Webhook-Signature", strings.ToUpper(vectorSignature))
		}},
		{name: "ValidAmongOtherKeys", keys: faltest.StaticKeys{ed25519.PublicKey{1, 2, 3}, publicKey(newTestKey(t)), publicKey(vectorKey())}},
		{name: "TamperedBody", body: strings.Replace(vectorBody, `"OK"`, `"ERROR"`, 1), wantErr: ErrBadSignature},
		{name: "TrailingNewlineInBody", body: vectorBody + "\n", wantErr: ErrBadSignature},
		{name: "TamperedRequestID", header: func(h http.Header) {
			h.Set("X-Fal-Webhook-Request-Id", "00000000-8f4a-4c43-9d0e-3f1b6a2c7d11")
		}, wantErr: ErrBadSignature},
		{name: "TamperedUserID", header: func(h http.Header) {
			h.Set("X-Fal-Webhook-User-Id", "other-user")
		}, wantErr: ErrBadSignature},
		{name: "WrongKey", keys: faltest.StaticKeys{publicKey(newTestKey(t))}, wantErr: ErrBadSignature},
		{name: "StaleTimestamp", now: vectorTime.Add(301 * time.Second), wantErr: ErrStaleTimestamp},
		{name: "FutureTimestamp", now: vectorTime.Add(-301 * time.Second), wantErr: ErrStaleTimestamp},
		{name: "TimestampNotANumber", header: func(h http.Header) {
			h.Set("X-Fal-Webhook-Timestamp", "2025-10-09T08:53:20Z")
		}, wantErr: ErrStaleTimestamp},
		{name: "TimestampInMilliseconds", header: func(h http.Header) {
			h.Set("X-Fal-Webhook-Timestamp", vectorTimestamp+"000")
		}, wantErr: ErrStaleTimestamp},
		{name: "MissingRequestID", header: func(h http.Header) { h.Del("X-Fal-Webhook-Request-Id") }, wantErr: ErrMissingHeader},
		{name: "MissingUserID", header: func(h http.Header) { h.Del("X-Fal-Webhook-User-Id") }, wantErr: ErrMissingHeader},
		{name: "MissingTimestamp", header: func(h http.Header) { h.Del("X-Fal-Webhook-Timestamp") }, wantErr: ErrMissingHeader},
		{name: "MissingSignature", header: func(h http.Header) { h.Del("X-Fal-Webhook-Signature") }, wantErr: ErrMissingHeader},
		{name: "SignatureNotHex", header: func(h http.Header) {
			h.Set("X-Fal-Webhook-Signature", "zz"+vectorSignature[2:])
		}, wantErr: ErrMalformedSignature},
		{name: "SignatureTooShort", header: func(h http.Header) {
			h.Set("X-Fal-Webhook-Signature", vectorSignature[:126])
		}, wantErr: ErrMalformedSignature},
		{name: "SignatureTooLong", header: func(h http.Header) {
			h.Set("X-Fal-Webhook-Signature", vectorSignature+"00")
		}, wantErr: ErrMalformedSignature},
		{name: "NoKeys", keys: faltest.StaticKeys{}, wantErr: ErrNoKeys},
		{name: "KeySourceFails", keys: failingKeys{}, wantErr: ErrNoKeys},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			h := vectorHeader()
			if tt.header != nil {
				tt.header(h)
			}
			body := vectorBody
			if tt.body != "" {
				body = tt.body
			}
			keys := tt.keys
			if keys == nil {
				keys = faltest.StaticKeys{publicKey(vectorKey())}
			}
			now := vectorTime
			if !tt.now.IsZero() {
				now = tt.now
			}

			verifier := NewVerifier(VerifierConfig{Keys: keys, now: func() time.Time { return now }})
			err := verifier.Verify(context.Background(), h, []byte(body))
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
		})
	}
}

// A webhook's headers are the sender's until its signature verifies, and
// the receiver logs and stores Verify's error: however long a header, the
// error quotes at most its start, marked as cut.
func TestVerifierErrorQuotesOnlyTheStartOfAHeader(t *testing.T) {
	t.Parallel()

	const huge = 64 << 10
	verifier := NewVerifier(VerifierConfig{Keys: faltest.StaticKeys{publicKey(vectorKey())}, now: func() time.Time { return vectorTime }})
	for _, tt := range []struct {
		name, header, value string
		wantErr             error
		want                string
	}{
		{
			name: "TimestampNotANumber", header: "X-Fal-Webhook-Timestamp", value: strings.Repeat("9", huge),
			wantErr: ErrStaleTimestamp,
			want:    `fal webhook: timestamp outside tolerance: "` + strings.Repeat("9", 32) + `"… is not a Unix time`,
		},
		{
			// ParseInt takes any number of leading zeros.
			name: "TimestampZeroPadded", header: "X-Fal-Webhook-Timestamp", value: strings.Repeat("0", huge) + "1",
			wantErr: ErrStaleTimestamp,
			want:    "fal webhook: timestamp outside tolerance: signed at 1 (1970-01-01T00:00:01Z), 488888h53m19s ago",
		},
		{
			name: "SignatureTooLong", header: "X-Fal-Webhook-Signature", value: strings.Repeat("0", huge),
			wantErr: ErrMalformedSignature,
			want:    "fal webhook: malformed signature: 65536 hex digits, want 128",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			h := vectorHeader()
			h.Set(tt.header, tt.value)
			err := verifier.Verify(context.Background(), h, []byte(vectorBody))
			require.ErrorIs(t, err, tt.wantErr)
			require.EqualError(t, err, tt.want)
		})
	}
}

func TestVerifierRefreshesKeysOnce(t *testing.T) {
	t.Parallel()

	oldKey, newKey := newTestKey(t), newTestKey(t)
	body := []byte(`{"request_id":"r1","status":"OK","payload":null}`)

	for _, tt := range []struct {
		name    string
		signer  ed25519.PrivateKey
		wantErr error
	}{
		{name: "SignedWithRotatedKey", signer: newKey},
		{name: "SignedWithUnknownKey", signer: newTestKey(t), wantErr: ErrBadSignature},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			keys := &rotatingKeys{before: faltest.StaticKeys{publicKey(oldKey)}, after: faltest.StaticKeys{publicKey(newKey)}}
			verifier := NewVerifier(VerifierConfig{Keys: keys})
			err := verifier.Verify(context.Background(), SignWebhook(tt.signer, "r1", "u1", time.Now(), body), body)
			if tt.wantErr == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tt.wantErr)
			}
			require.Equal(t, []bool{false, true}, keys.calls)
		})
	}
}

func TestSignWebhook(t *testing.T) {
	t.Parallel()

	// Ed25519 signatures are deterministic, so signing the vector must
	// reproduce it exactly.
	h := SignWebhook(vectorKey(), vectorRequestID, vectorUserID, vectorTime, []byte(vectorBody))
	require.Equal(t, vectorHeader(), h)
}

func FuzzVerify(f *testing.F) {
	f.Add([]byte(vectorBody), []byte("x"), vectorTimestamp, vectorSignature)
	f.Add([]byte{}, []byte{0}, "-1", strings.Repeat("0", 128))
	f.Add([]byte("{}"), []byte{}, "9999999999999999999", "")
	f.Add([]byte("\xff\xfe"), []byte("\n"), " 1760000000", strings.ToUpper(vectorSignature))

	key := vectorKey()
	verifier := NewVerifier(VerifierConfig{
		Keys: faltest.StaticKeys{publicKey(key)},
		now:  func() time.Time { return vectorTime },
	})
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, body, suffix []byte, timestamp, signature string) {
		// Arbitrary headers: any outcome but a panic, and only the
		// package's errors.
		h := vectorHeader()
		h.Set("X-Fal-Webhook-Timestamp", timestamp)
		h.Set("X-Fal-Webhook-Signature", signature)
		if err := verifier.Verify(ctx, h, body); err != nil {
			requireVerifyError(t, err)
			// Logged and stored: bounded whatever the headers.
			require.LessOrEqual(t, len(err.Error()), 256, "%v", err)
		}

		// A genuine signature holds for its body and for no other.
		h = SignWebhook(key, vectorRequestID, vectorUserID, vectorTime, body)
		require.NoError(t, verifier.Verify(ctx, h, body))

		mutated := append(bytes.Clone(body), suffix...)
		if len(suffix) == 1 && len(body) > 0 {
			// Flip one bit in place rather than append.
			mutated = bytes.Clone(body)
			mutated[int(suffix[0])%len(body)] ^= 1 << (suffix[0] % 8)
		}
		if !bytes.Equal(mutated, body) {
			require.ErrorIs(t, verifier.Verify(ctx, h, mutated), ErrBadSignature)
		}
	})
}

func requireVerifyError(t *testing.T, err error) {
	t.Helper()
	for _, sentinel := range []error{ErrMissingHeader, ErrStaleTimestamp, ErrMalformedSignature, ErrBadSignature} {
		if errors.Is(err, sentinel) {
			return
		}
	}
	require.Fail(t, "unexpected error", "%v", err)
}

type failingKeys struct{}

func (failingKeys) Keys(context.Context, bool) ([]ed25519.PublicKey, error) {
	return nil, errors.New("key server down")
}

// rotatingKeys serves before until asked to refresh, and after from then on.
type rotatingKeys struct {
	before, after faltest.StaticKeys

	mu        sync.Mutex
	calls     []bool // refresh argument of each call
	refreshed bool
}

func (k *rotatingKeys) Keys(_ context.Context, refresh bool) ([]ed25519.PublicKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls = append(k.calls, refresh)
	k.refreshed = k.refreshed || refresh
	if k.refreshed {
		return k.after, nil
	}
	return k.before, nil
}
