package fal

import "time"

// NewVerifierAt is NewVerifier reading now instead of time.Now, so that a
// test outside the package checks a signature made at a fixed time.
func NewVerifierAt(cfg VerifierConfig, now func() time.Time) *Verifier {
	cfg.now = now
	return NewVerifier(cfg)
}
