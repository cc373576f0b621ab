package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"

	"github.com/easelhq/easel/store"
)

// An API key is "easel_" followed by 40 lowercase base32 characters: 200
// random bits, so that guessing is hopeless and the key is recognisable in a
// secret scanner. Only its SHA-256 is stored; a fast hash suffices because the
// key is random, not a password.
const (
	keyPrefix       = "easel_"
	keyRandomBytes  = 25
	keyLen          = len(keyPrefix) + keyRandomBytes*8/5
	keyShownPrefix  = len(keyPrefix) + 8 // stored to tell keys apart; reveals 40 of 200 bits
	maxKeyNameBytes = 100
)

var keyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// CreateKey creates an API key for the calling service name and returns the
// key, which is shown to nobody else and cannot be recovered later. name
// becomes the client of every generation enqueued with the key; it may hold
// letters, digits, '.', '_' and '-'.
func CreateKey(ctx context.Context, db store.DBTX, name string) (string, *store.APIKey, error) {
	if err := CheckKeyName(name); err != nil {
		return "", nil, err
	}
	b := make([]byte, keyRandomBytes)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("create API key %q: %w", name, err)
	}
	key := keyPrefix + keyEncoding.EncodeToString(b)
	stored, err := store.InsertAPIKey(ctx, db, name, hashKey(key), key[:keyShownPrefix])
	if err != nil {
		return "", nil, err
	}
	return key, stored, nil
}

// CheckKeyName refuses a name CreateKey would refuse, without a database,
// so that a command can refuse it before touching one.
func CheckKeyName(name string) error {
	if name == "" || len(name) > maxKeyNameBytes {
		return fmt.Errorf("API key name must be 1 to %d characters long", maxKeyNameBytes)
	}
	if name == AnonymousClient {
		return fmt.Errorf("API key name %q is reserved for requests without a key", AnonymousClient)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-", c)) {
			return fmt.Errorf("API key name %q may hold only letters, digits, '.', '_' and '-'", name)
		}
	}
	return nil
}

// wellFormedKey reports whether s could be a key, so that junk never costs a
// database lookup.
func wellFormedKey(s string) bool {
	if len(s) != keyLen || !strings.HasPrefix(s, keyPrefix) {
		return false
	}
	for _, c := range s[len(keyPrefix):] {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

func hashKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}
