package fal

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/faltest"
)

// A signature no key verifies is logged and stored with Verify's error, and
// the on-call reads it to tell fal's keys rotated (and not yet refetched),
// FAL_JWKS_URL serving keys that are not fal's, and a forgery apart: it
// names the key set, how many keys it holds, and whether they were just
// refetched or, refetches being at most one a minute, when they can be.
func TestBadSignatureErrorSaysWhatWasTried(t *testing.T) {
	t.Parallel()
	b := setupJWKS(t)
	ctx := context.Background()
	verifier := NewVerifier(VerifierConfig{Keys: b.jwks, now: b.clock.Now})
	body := []byte(`{"request_id":"r1","status":"OK","payload":{"images":[]}}`)
	sign := func(key ed25519.PrivateKey) http.Header { return SignWebhook(key, "r1", "u1", b.clock.Now(), body) }
	requireBadSignature := func(err error, want string) {
		t.Helper()
		require.ErrorIs(t, err, ErrBadSignature)
		require.NotErrorIs(t, err, ErrNoKeys, "answered 401, not 503")
		require.EqualError(t, err, "fal webhook: signature does not verify: "+want)
	}

	require.NoError(t, verifier.Verify(ctx, sign(b.key), body), "fetched at 08:53:20")

	// The fetch that found the keys was the last: no refetch for a minute.
	forger := newTestKey(t)
	requireBadSignature(verifier.Verify(ctx, sign(forger), body),
		"tried 1 key from "+b.server.URL+", fetched 0s ago; not refetched: at most one fetch per 1m0s, the next from 2025-10-09T08:54:20Z (in 1m0s)")

	// fal rotates its key: its webhooks fail until a refetch is allowed,
	// and the error says when that is.
	rotated := newTestKey(t)
	b.server.serve(jwksOf(b.key, rotated), http.StatusOK)
	b.clock.Advance(45 * time.Second)
	requireBadSignature(verifier.Verify(ctx, sign(rotated), body),
		"tried 1 key from "+b.server.URL+", fetched 45s ago; not refetched: at most one fetch per 1m0s, the next from 2025-10-09T08:54:20Z (in 15s)")
	require.EqualValues(t, 1, b.server.fetches.Load())
	b.clock.Advance(15 * time.Second)
	require.NoError(t, verifier.Verify(ctx, sign(rotated), body), "refetched at 08:54:20")

	// A key the set does not hold, right after a refetch: a forgery, or a
	// key set that is not the one fal signs with.
	b.clock.Advance(time.Minute)
	requireBadSignature(verifier.Verify(ctx, sign(forger), body), "tried 2 keys from "+b.server.URL+", refetched just now")
	require.EqualValues(t, 3, b.server.fetches.Load())

	// The key set cannot be fetched: the keys fetched before are tried,
	// and the error says why they are not the latest.
	b.server.serve(`{"detail":"oops"}`, http.StatusInternalServerError)
	b.clock.Advance(90 * time.Second)
	requireBadSignature(verifier.Verify(ctx, sign(forger), body),
		"tried 2 keys from "+b.server.URL+", fetched 1m30s ago; refetching failed: fetch JWKS "+b.server.URL+": HTTP 500")
}

// A key source that cannot say what a refresh did still has the number of
// keys tried in the error, and a refresh that fails says why.
func TestBadSignatureErrorOfOtherKeySources(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		keys KeySource
		want string
	}{
		{name: "Static", keys: faltest.StaticKeys{publicKey(newTestKey(t)), publicKey(newTestKey(t))}, want: "tried 2 keys"},
		{
			name: "RefreshFails", keys: refreshFailingKeys{publicKey(newTestKey(t))},
			want: "tried 1 key; refreshing them failed: key server down",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			verifier := NewVerifier(VerifierConfig{Keys: tt.keys, now: func() time.Time { return vectorTime }})
			err := verifier.Verify(context.Background(), vectorHeader(), []byte(vectorBody))
			require.ErrorIs(t, err, ErrBadSignature)
			require.NotErrorIs(t, err, ErrNoKeys)
			require.EqualError(t, err, "fal webhook: signature does not verify: "+tt.want)
		})
	}
}

// refreshFailingKeys serves its keys until asked to refresh, which fails.
type refreshFailingKeys faltest.StaticKeys

func (k refreshFailingKeys) Keys(_ context.Context, refresh bool) ([]ed25519.PublicKey, error) {
	if refresh {
		return nil, errors.New("key server down")
	}
	return k, nil
}
