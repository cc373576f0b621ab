// Package fal speaks fal.ai's queue and webhook protocol (see
// fal-protocol.md): a queue REST client that submits, polls, fetches and
// cancels requests; the model output and webhook payload types; and
// verification of fal's Ed25519-signed webhooks against its published JWKS.
//
// The package knows nothing about Easel's database or jobs.
//
// # Errors
//
// A Client method that got an HTTP answer outside 2xx returns an *APIError;
// its Retryable method says whether resubmitting may succeed. An error
// wrapping ErrInvalidRequest means the client refused to send the request, so
// retrying cannot help. Any other error is a transport failure, a cancelled
// context or an unreadable response, and callers should treat it as
// retryable. The fal key never appears in any error.
//
// # Webhooks
//
// A webhook handler reads the raw body, calls Verifier.Verify with the
// request headers and that body, and only then calls ParseWebhook. The
// signature covers the exact bytes, so the body must not be re-encoded before
// verification or storage.
package fal
