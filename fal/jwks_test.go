package fal

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/clocktest"
)

// jwksServer serves a key set that tests can rotate or break.
type jwksServer struct {
	*httptest.Server

	fetches atomic.Int64

	mu     sync.Mutex
	body   string
	status int
}

func (s *jwksServer) serve(body string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.status = body, status
}

func jwksOf(keys ...ed25519.PrivateKey) string {
	entries := make([]string, len(keys))
	for i, key := range keys {
		x := base64.RawURLEncoding.EncodeToString(publicKey(key))
		entries[i] = fmt.Sprintf(`{"kty":"OKP","crv":"Ed25519","kid":"k%d","x":%q}`, i, x)
	}
	return `{"keys":[` + strings.Join(entries, ",") + `]}`
}

type jwksTestBundle struct {
	clock  *clocktest.Clock
	jwks   *JWKS
	key    ed25519.PrivateKey // served initially
	server *jwksServer
}

func setupJWKS(t *testing.T) *jwksTestBundle {
	t.Helper()

	key := newTestKey(t)
	server := &jwksServer{body: jwksOf(key), status: http.StatusOK}
	server.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		server.fetches.Add(1)
		server.mu.Lock()
		body, status := server.body, server.status
		server.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(server.Close)

	clock := clocktest.At(time.Unix(1760000000, 0))
	return &jwksTestBundle{
		clock: clock,
		jwks: NewJWKS(JWKSConfig{
			URL:        server.URL,
			HTTPClient: server.Client(),
			Logger:     slog.New(slog.DiscardHandler),
			now:        clock.Now,
		}),
		key:    key,
		server: server,
	}
}

func TestJWKSFetchesLazilyAndCaches(t *testing.T) {
	t.Parallel()

	bundle := setupJWKS(t)
	ctx := context.Background()
	require.Zero(t, bundle.server.fetches.Load())

	for range 3 {
		keys, err := bundle.jwks.Keys(ctx, false)
		require.NoError(t, err)
		require.Equal(t, []ed25519.PublicKey{publicKey(bundle.key)}, keys)
	}
	require.EqualValues(t, 1, bundle.server.fetches.Load())

	bundle.clock.Advance(24*time.Hour - time.Second)
	_, err := bundle.jwks.Keys(ctx, false)
	require.NoError(t, err)
	require.EqualValues(t, 1, bundle.server.fetches.Load())

	bundle.clock.Advance(time.Second)
	_, err = bundle.jwks.Keys(ctx, false)
	require.NoError(t, err)
	require.EqualValues(t, 2, bundle.server.fetches.Load())
}

func TestJWKSRefreshIsRateLimited(t *testing.T) {
	t.Parallel()

	bundle := setupJWKS(t)
	ctx := context.Background()

	_, err := bundle.jwks.Keys(ctx, true)
	require.NoError(t, err)
	_, err = bundle.jwks.Keys(ctx, true)
	require.NoError(t, err)
	require.EqualValues(t, 1, bundle.server.fetches.Load())

	bundle.clock.Advance(time.Minute)
	_, err = bundle.jwks.Keys(ctx, true)
	require.NoError(t, err)
	require.EqualValues(t, 2, bundle.server.fetches.Load())
}

func TestJWKSKeepsStaleKeysWhenFetchFails(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name   string
		body   string
		status int
	}{
		{name: "ServerError", body: `{"detail":"oops"}`, status: http.StatusInternalServerError},
		{name: "NotJSON", body: `<html>`, status: http.StatusOK},
		{name: "NoUsableKeys", body: `{"keys":[{"kty":"RSA","n":"x","e":"AQAB"}]}`, status: http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			bundle := setupJWKS(t)
			ctx := context.Background()
			_, err := bundle.jwks.Keys(ctx, false)
			require.NoError(t, err)

			bundle.server.serve(tt.body, tt.status)
			bundle.clock.Advance(25 * time.Hour)
			keys, err := bundle.jwks.Keys(ctx, false)
			require.NoError(t, err)
			require.Equal(t, []ed25519.PublicKey{publicKey(bundle.key)}, keys)
			require.EqualValues(t, 2, bundle.server.fetches.Load())
		})
	}
}

func TestJWKSFailsWithoutKeys(t *testing.T) {
	t.Parallel()

	bundle := setupJWKS(t)
	ctx := context.Background()
	bundle.server.serve("", http.StatusServiceUnavailable)

	_, err := bundle.jwks.Keys(ctx, false)
	require.ErrorContains(t, err, "HTTP 503")

	// Failed fetches are rate limited too, and the error is kept.
	_, err = bundle.jwks.Keys(ctx, true)
	require.ErrorContains(t, err, "HTTP 503")
	require.EqualValues(t, 1, bundle.server.fetches.Load())

	bundle.server.serve(jwksOf(bundle.key), http.StatusOK)
	bundle.clock.Advance(time.Minute)
	keys, err := bundle.jwks.Keys(ctx, false)
	require.NoError(t, err)
	require.Len(t, keys, 1)
}

func TestJWKSRefreshPicksUpRotation(t *testing.T) {
	t.Parallel()

	bundle := setupJWKS(t)
	ctx := context.Background()
	_, err := bundle.jwks.Keys(ctx, false)
	require.NoError(t, err)

	newKey := newTestKey(t)
	bundle.server.serve(jwksOf(newKey), http.StatusOK)
	bundle.clock.Advance(time.Minute)

	keys, err := bundle.jwks.Keys(ctx, false)
	require.NoError(t, err)
	require.Equal(t, []ed25519.PublicKey{publicKey(bundle.key)}, keys, "cache is still fresh")

	keys, err = bundle.jwks.Keys(ctx, true)
	require.NoError(t, err)
	require.Equal(t, []ed25519.PublicKey{publicKey(newKey)}, keys)
}

func TestJWKSConcurrentCallersShareOneFetch(t *testing.T) {
	t.Parallel()

	bundle := setupJWKS(t)
	ctx := context.Background()

	var (
		wg   sync.WaitGroup
		errs = make(chan error, 16)
	)
	for range cap(errs) {
		wg.Go(func() {
			keys, err := bundle.jwks.Keys(ctx, true)
			if err == nil && len(keys) != 1 {
				err = fmt.Errorf("got %d keys, want 1", len(keys))
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.EqualValues(t, 1, bundle.server.fetches.Load())
}

// A caller that has given up before a fetch is due starts none: the next
// caller's fetch goes ahead.
func TestJWKSGoneCallerStartsNoFetch(t *testing.T) {
	t.Parallel()

	bundle := setupJWKS(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	_, err := bundle.jwks.Keys(ctx, false)
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, bundle.server.fetches.Load())

	keys, err := bundle.jwks.Keys(context.Background(), false)
	require.NoError(t, err)
	require.Len(t, keys, 1)
	require.EqualValues(t, 1, bundle.server.fetches.Load())
}

// A webhook that fails verification has the key set refetched, at most once
// a minute. The fetch must count even when the webhook's sender hangs up
// while it runs, or a forger who hangs up after each forged webhook would
// start a fetch with every one. It runs to its end instead, and a key fal
// rotated in meanwhile is there for the next webhook.
func TestJWKSFetchOutlivesTheWebhookThatStartedIt(t *testing.T) {
	t.Parallel()

	oldKey, newKey := newTestKey(t), newTestKey(t)
	var fetches atomic.Int64
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served := oldKey
		if fetches.Add(1) > 1 {
			// fal rotated its key and answers slowly: the forger hangs
			// up meanwhile.
			arrived <- struct{}{}
			<-release
			served = newKey
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, jwksOf(served))
	}))
	t.Cleanup(server.Close)
	releaseOnce := sync.OnceFunc(func() { close(release) })
	// Before server.Close, which waits for the handler.
	t.Cleanup(releaseOnce)

	clock := clocktest.At(time.Unix(1760000000, 0))
	verifier := NewVerifier(VerifierConfig{
		Keys: NewJWKS(JWKSConfig{URL: server.URL, HTTPClient: server.Client(), Logger: slog.New(slog.DiscardHandler), now: clock.Now}),
		now:  clock.Now,
	})
	body := []byte(`{}`)
	forger := newTestKey(t)
	forged := func() http.Header { return SignWebhook(forger, "req-1", "user-1", clock.Now(), body) }

	require.ErrorIs(t, verifier.Verify(context.Background(), forged(), body), ErrBadSignature)
	require.EqualValues(t, 1, fetches.Load(), "the first webhook fetched the keys")

	clock.Advance(time.Minute)
	ctx, hangUp := context.WithCancel(context.Background())
	verified := make(chan error, 1)
	go func() { verified <- verifier.Verify(ctx, forged(), body) }()
	<-arrived
	hangUp()
	err := <-verified
	require.ErrorIs(t, err, ErrBadSignature)
	require.ErrorContains(t, err, "tried 1 key from "+server.URL+"; refreshing them failed: wait for JWKS fetch: context canceled")

	// More forged webhooks, each hung up at once, while the fetch runs.
	for range 10 {
		ctx, hangUp := context.WithCancel(context.Background())
		hangUp()
		require.ErrorIs(t, verifier.Verify(ctx, forged(), body), ErrBadSignature)
	}

	releaseOnce()
	require.NoError(t, verifier.Verify(context.Background(), SignWebhook(newKey, "req-2", "user-1", clock.Now(), body), body),
		"the rotated key, from the fetch the forger started")
	require.ErrorIs(t, verifier.Verify(context.Background(), forged(), body), ErrBadSignature)
	require.EqualValues(t, 2, fetches.Load(), "one refresh within the minute, however many forged webhooks hung up")
}

// A fetch fal never answers ends at FetchTimeout, whatever the HTTP client,
// and counts: the next is a minute later.
func TestJWKSFetchTimesOut(t *testing.T) {
	t.Parallel()

	var fetches atomic.Int64
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		<-r.Context().Done()
	}))
	t.Cleanup(server.Close)
	clock := clocktest.At(time.Unix(1760000000, 0))
	jwks := NewJWKS(JWKSConfig{
		URL: server.URL, HTTPClient: &http.Client{}, FetchTimeout: 50 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler), now: clock.Now,
	})

	_, err := jwks.Keys(context.Background(), false)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	_, err = jwks.Keys(context.Background(), true)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the failed fetch's error, kept")
	require.EqualValues(t, 1, fetches.Load())
}

func TestParseJWKS(t *testing.T) {
	t.Parallel()

	key := publicKey(vectorKey())
	x := base64.RawURLEncoding.EncodeToString(key)
	padded := base64.URLEncoding.EncodeToString(key)
	require.True(t, strings.HasSuffix(padded, "="))

	tests := []struct {
		name     string
		jwks     string
		wantKeys int
		wantErr  string
	}{
		{name: "ProtocolVector", jwks: vectorJWKS, wantKeys: 1},
		{name: "Padded", jwks: `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + padded + `"}]}`, wantKeys: 1},
		{name: "OnlyX", jwks: `{"keys":[{"x":"` + x + `"}]}`, wantKeys: 1},
		{name: "JunkIgnored", wantKeys: 2, jwks: `{"keys":[
			{"kty":"RSA","x":"` + x + `"},
			{"kty":"OKP","crv":"X25519","x":"` + x + `"},
			{"kty":"OKP","crv":"Ed25519","x":"` + x[:20] + `"},
			{"kty":"OKP","crv":"Ed25519","x":"not base64!"},
			{"kty":"OKP","crv":"Ed25519","x":7},
			"junk", null, 42,
			{"kty":"OKP","crv":"Ed25519","x":"` + x + `"},
			{"kty":"OKP","crv":"Ed25519","use":"sig","kid":"b","x":"` + padded + `"}]}`},
		{name: "OnlyJunk", jwks: `{"keys":[{"kty":"RSA"}]}`, wantErr: "no Ed25519 keys"},
		{name: "Empty", jwks: `{"keys":[]}`, wantErr: "no Ed25519 keys"},
		{name: "NotJSON", jwks: `keys`, wantErr: "decode key set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			keys, err := parseJWKS([]byte(tt.jwks))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Len(t, keys, tt.wantKeys)
			for _, got := range keys {
				require.Equal(t, key, got)
			}
		})
	}
}

func TestVerifierWithJWKSRotation(t *testing.T) {
	t.Parallel()

	bundle := setupJWKS(t)
	ctx := context.Background()
	verifier := NewVerifier(VerifierConfig{Keys: bundle.jwks, now: bundle.clock.Now})
	body := []byte(`{"request_id":"r1","status":"OK","payload":{"images":[]}}`)
	sign := func(key ed25519.PrivateKey) http.Header {
		return SignWebhook(key, "r1", "u1", bundle.clock.Now(), body)
	}
	oldKey := bundle.key

	require.NoError(t, verifier.Verify(ctx, sign(oldKey), body))

	newKey := newTestKey(t)
	bundle.server.serve(jwksOf(newKey), http.StatusOK)
	bundle.clock.Advance(time.Minute)

	// The cached key fails, so the verifier refreshes and finds the new one.
	require.NoError(t, verifier.Verify(ctx, sign(newKey), body))
	require.EqualValues(t, 2, bundle.server.fetches.Load())

	// The old key is gone; its refresh is rate limited.
	require.ErrorIs(t, verifier.Verify(ctx, sign(oldKey), body), ErrBadSignature)
	require.EqualValues(t, 2, bundle.server.fetches.Load())

	bundle.clock.Advance(time.Minute)
	require.ErrorIs(t, verifier.Verify(ctx, sign(oldKey), body), ErrBadSignature)
	require.EqualValues(t, 3, bundle.server.fetches.Load())
}
