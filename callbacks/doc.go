// Package callbacks posts a finished generation to the URL its caller gave,
// the way the Standard Webhooks specification (standardwebhooks.com) says:
// every request carries webhook-id, webhook-timestamp and webhook-signature
// headers, the signature being an HMAC-SHA256 over "id.timestamp.body" with
// a secret shared as whsec_<base64>.
//
// The secret is the generation's client's own (Secrets.ClientSecret),
// derived from Easel's master secrets, never a master itself: a receiver
// verifying with its client's secret accepts only callbacks that Easel sent
// for that client's generations, not those of a generation another client
// enqueued with the receiver's URL, nor any that another receiver forged.
//
// A callback URL is chosen by whoever enqueues a generation, so Easel must
// not become a way to reach its own network: Policy refuses URLs whose host
// is loopback, private, link-local and the like, unless allowed, once when
// a URL is accepted (CheckURL) and again on every connection
// (Policy.Client), because the address a name resolves to can change
// between the two (DNS rebinding).
//
// Receivers written in Go can check a callback with Signer.Verify.
package callbacks
