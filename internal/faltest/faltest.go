// Package faltest holds test helpers for code that verifies fal's webhooks.
//
// It does not import package fal, so that fal's own tests can use it too.
package faltest

import (
	"context"
	"crypto/ed25519"
)

// StaticKeys is a fixed fal.KeySource: tests verify webhooks signed with
// their own keys (fal.SignWebhook) without serving a JWKS.
type StaticKeys []ed25519.PublicKey

// Keys returns the keys; refreshing changes nothing.
func (s StaticKeys) Keys(context.Context, bool) ([]ed25519.PublicKey, error) {
	return s, nil
}
