package fal_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/easelhq/easel/fal"
)

func ExampleVerifier() {
	// In production the keys come from fal's JWKS at fal.DefaultJWKSURL,
	// NewVerifier's default. Here a local key pair stands in for fal's,
	// published the way fal publishes its keys.
	signingKey := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		x := base64.RawURLEncoding.EncodeToString(signingKey.Public().(ed25519.PublicKey))
		fmt.Fprintf(w, `{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": %q}]}`, x)
	}))
	defer jwks.Close()
	verifier := fal.NewVerifier(fal.VerifierConfig{
		Keys: fal.NewJWKS(fal.JWKSConfig{URL: jwks.URL}),
	})

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The signature covers the raw bytes, so read them before anything
		// decodes the body.
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err := verifier.Verify(r.Context(), r.Header, body); err != nil {
			status := http.StatusUnauthorized
			if errors.Is(err, fal.ErrNoKeys) {
				// Not fal's fault: answer so that it retries later.
				status = http.StatusServiceUnavailable
			}
			http.Error(w, "webhook not verified", status)
			return
		}
		payload, err := fal.ParseWebhook(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Println("verified", payload.RequestID, payload.Status)
		w.WriteHeader(http.StatusOK)
	})

	body := []byte(`{"request_id": "764cabcf", "status": "OK", "payload": {"images": []}}`)
	for _, tamper := range []bool{false, true} {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/fal/0b0e", bytes.NewReader(body))
		for name, values := range fal.SignWebhook(signingKey, "764cabcf", "user-1", time.Now(), body) {
			req.Header[name] = values
		}
		if tamper {
			req.Body = io.NopCloser(bytes.NewReader(bytes.Replace(body, []byte("OK"), []byte("ERROR"), 1)))
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}

	// Output:
	// verified 764cabcf OK
	// 200
	// 401
}
