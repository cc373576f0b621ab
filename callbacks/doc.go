// Package callbacks posts a finished generation to the URL its caller gave,
// the way the Standard Webhooks specification (standardwebhooks.com) says:
// every request carries webhook-id, webhook-timestamp and webhook-signature
// headers, the signature being an HMAC-SHA256 over "id.timestamp.body" with
// a secret shared as whsec_<base64>.
//
// A callback URL is chosen by whoever enqueues a generation, so Easel must
// not become a way to reach its own network: Policy refuses URLs whose host
// is loopback, private, link-local and the like, once when a URL is accepted
// (CheckURL) and again on every connection (Policy.Client), because the
// address a name resolves to can change between the two (DNS rebinding).
//
// Receivers written in Go can check a callback with Signer.Verify.
package callbacks
