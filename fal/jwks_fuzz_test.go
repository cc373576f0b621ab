package fal

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParseJWKS checks that a key set, whatever fal's key server sends, yields
// only 32-byte keys or an error that says what is wrong; that keys typed as
// anything but Ed25519 never count; and that the keys found are a fixed point:
// published again as a canonical key set, they parse to themselves.
func FuzzParseJWKS(f *testing.F) {
	key := publicKey(vectorKey())
	x := base64.RawURLEncoding.EncodeToString(key)
	padded := base64.URLEncoding.EncodeToString(key)
	for _, seed := range []string{
		vectorJWKS,
		`{"keys":[{"kty":"OKP","crv":"Ed25519","use":"sig","alg":"EdDSA","kid":"2025-10","x":"` + padded + `"}]}`,
		`{"keys":[{"x":"` + x + `"},{"kty":"RSA","n":"0vx7","e":"AQAB","x":"` + x + `"},{"kty":"OKP","crv":"X25519","x":"` + x + `"}]}`,
		`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x[:20] + `"},{"x":"not base64!"},{"x":7},"junk",null,42]}`,
		`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `==="},{"KTY":"OKP","X":"` + x + `"}]}`,
		`{"keys":[]}`,
		`{"keys":null}`,
		`{"keys":{"x":"` + x + `"}}`,
		`{}`,
		`[]`,
		`null`,
		``,
	} {
		f.Add([]byte(seed))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := parseJWKS(data)

		var set struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if json.Unmarshal(data, &set) != nil {
			require.Nil(t, keys)
			require.ErrorContains(t, err, "decode key set: ")
			return
		}
		if err != nil {
			require.Nil(t, keys)
			requireNamesEntries(t, err, len(set.Keys))
			return
		}

		require.NotEmpty(t, keys)
		require.LessOrEqual(t, len(keys), len(set.Keys))
		for _, k := range keys {
			require.Len(t, k, ed25519.PublicKeySize)
		}

		canonical := make([]string, len(keys))
		for i, k := range keys {
			canonical[i] = `{"kty":"OKP","crv":"Ed25519","x":"` + base64.RawURLEncoding.EncodeToString(k) + `"}`
		}
		again, err := parseJWKS([]byte(`{"keys":[` + strings.Join(canonical, ",") + `]}`))
		require.NoError(t, err)
		require.Equal(t, keys, again)

		// Keys of another type or curve, even with a valid 32-byte x, add
		// nothing wherever they stand in the set.
		x := base64.RawURLEncoding.EncodeToString(keys[0])
		foreign := []json.RawMessage{
			json.RawMessage(`{"kty":"RSA","x":"` + x + `"}`),
			json.RawMessage(`{"kty":"OKP","crv":"X25519","x":"` + x + `"}`),
		}
		mixed, err := json.Marshal(map[string][]json.RawMessage{"keys": append(append(foreign[:1:1], set.Keys...), foreign[1])})
		require.NoError(t, err)
		again, err = parseJWKS(mixed)
		require.NoError(t, err)
		require.Equal(t, keys, again)
	})
}

// requireNamesEntries checks that err, parseJWKS's error for a set of n
// entries none of which is a usable key, says so and names why the first
// entry was skipped.
func requireNamesEntries(t *testing.T, err error, n int) {
	t.Helper()
	require.ErrorContains(t, err, "no Ed25519 keys")
	if n == 0 {
		require.ErrorContains(t, err, `"keys" is empty or missing`)
		return
	}
	require.ErrorContains(t, err, "keys[0]: ")
	require.Less(t, len(err.Error()), 1024, "the error is logged on every failed fetch")
}

func TestParseJWKSSaysWhyEntriesAreSkipped(t *testing.T) {
	t.Parallel()

	x := base64.RawURLEncoding.EncodeToString(publicKey(vectorKey()))
	tests := []struct {
		name string
		jwks string
		want string
	}{
		{name: "Empty", jwks: `{"keys":[]}`, want: `key set has no Ed25519 keys: "keys" is empty or missing`},
		{name: "Missing", jwks: `{"kid":"a"}`, want: `key set has no Ed25519 keys: "keys" is empty or missing`},
		{
			name: "EachReason",
			jwks: `{"keys":[{"kty":"RSA","x":"` + x + `"},{"crv":"X25519","x":"` + x + `"},{"kty":"OKP"}]}`,
			want: `key set has no Ed25519 keys: keys[0]: kty is "RSA", not OKP; keys[1]: crv is "X25519", not Ed25519; keys[2]: x is missing`,
		},
		{
			name: "BadX",
			jwks: `{"keys":[{"x":"` + x[:20] + `"},{"x":"not base64!"},{"x":7}]}`,
			want: `key set has no Ed25519 keys: keys[0]: x is 15 bytes, want 32; keys[1]: x is not base64url; keys[2]: x is a JSON number, not a string`,
		},
		{
			name: "NotObjectsAndMore",
			jwks: `{"keys":["junk",[1],42,null,{}]}`,
			want: `key set has no Ed25519 keys: keys[0]: is not a JSON object; keys[1]: is not a JSON object; keys[2]: is not a JSON object; and 2 more`,
		},
		{
			name: "LongValueShortened",
			jwks: `{"keys":[{"kty":"` + strings.Repeat("A", 1000) + `"}]}`,
			want: `key set has no Ed25519 keys: keys[0]: kty is "` + strings.Repeat("A", 32) + `"…, not OKP`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			keys, err := parseJWKS([]byte(tt.jwks))
			require.Nil(t, keys)
			require.EqualError(t, err, tt.want)
		})
	}
}
