package fal

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A forged webhook's error is logged and stored, so the JWKS URL it names
// must not carry FAL_JWKS_URL's credentials: user information and query
// are left out, of every error that names the URL.
func TestJWKSErrorsHideCredentials(t *testing.T) {
	t.Parallel()
	b := setupJWKS(t)
	secretURL := strings.Replace(b.server.URL, "http://", "http://jwksuser:S3CRET@", 1) + "/jwks.json?access_token=QUERYSECRET#frag"
	shown := b.server.URL + "/jwks.json"
	newJWKS := func() *JWKS {
		return NewJWKS(JWKSConfig{URL: secretURL, HTTPClient: b.server.Client(), Logger: slog.New(slog.DiscardHandler), now: b.clock.Now})
	}
	requireHidden := func(t *testing.T, err error) {
		t.Helper()
		require.Error(t, err)
		require.Contains(t, err.Error(), shown)
		for _, secret := range []string{"jwksuser", "S3CRET", "QUERYSECRET", "frag"} {
			require.NotContains(t, err.Error(), secret)
		}
	}
	body := []byte(`{"request_id":"r1","status":"OK","payload":{"images":[]}}`)
	forged := SignWebhook(newTestKey(t), "r1", "u1", b.clock.Now(), body)

	t.Run("bad signature", func(t *testing.T) {
		t.Parallel()
		err := NewVerifier(VerifierConfig{Keys: newJWKS(), now: b.clock.Now}).Verify(context.Background(), forged, body)
		require.ErrorIs(t, err, ErrBadSignature)
		requireHidden(t, err)
	})
	t.Run("fetch answered with an error", func(t *testing.T) {
		t.Parallel()
		failing := setupJWKS(t)
		failing.server.serve(`{"detail":"oops"}`, http.StatusInternalServerError)
		url := strings.Replace(failing.server.URL, "http://", "http://jwksuser:S3CRET@", 1) + "/jwks.json?access_token=QUERYSECRET#frag"
		shown := failing.server.URL + "/jwks.json"
		_, err := NewJWKS(JWKSConfig{URL: url, HTTPClient: failing.server.Client(), Logger: slog.New(slog.DiscardHandler)}).Keys(context.Background(), false)
		require.ErrorContains(t, err, "fetch JWKS "+shown+": HTTP 500")
		require.NotContains(t, err.Error(), "S3CRET")
		require.NotContains(t, err.Error(), "QUERYSECRET")
	})
	t.Run("fetch not answered", func(t *testing.T) {
		t.Parallel()
		closed := setupJWKS(t)
		closed.server.Close()
		url := strings.Replace(closed.server.URL, "http://", "http://jwksuser:S3CRET@", 1) + "/jwks.json?access_token=QUERYSECRET#frag"
		_, err := NewJWKS(JWKSConfig{URL: url, Logger: slog.New(slog.DiscardHandler)}).Keys(context.Background(), false)
		require.ErrorContains(t, err, closed.server.URL+"/jwks.json")
		require.NotContains(t, err.Error(), "S3CRET")
		require.NotContains(t, err.Error(), "QUERYSECRET")
	})
}
