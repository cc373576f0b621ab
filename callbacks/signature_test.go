package callbacks_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/callbacks"
)

// The test vector of the Standard Webhooks reference libraries.
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func newSigner(t *testing.T, secret string) *callbacks.Signer {
	t.Helper()
	s, err := callbacks.NewSigner(secret)
	require.NoError(t, err)
	return s
}

func TestSignMatchesStandardWebhooksVector(t *testing.T) {
	t.Parallel()
	s := newSigner(t, vectorSecret)
	require.Equal(t, vectorSignature, s.Sign(vectorID, time.Unix(vectorTimestamp, 0), []byte(vectorBody)))
}

// independentSignature computes a signature from the specification alone.
func independentSignature(t *testing.T, secret, id string, ts int64, body []byte) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	require.NoError(t, err)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "." + string(body)))
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// independentClientSecret derives a client's secret from the
// documentation alone: HMAC-SHA256(master key, "easel-callback-v1\x00" +
// client), as whsec_<base64>.
func independentClientSecret(t *testing.T, master, client string) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(master, "whsec_"))
	require.NoError(t, err)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("easel-callback-v1\x00" + client))
	return "whsec_" + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func TestClientSecret(t *testing.T) {
	t.Parallel()
	const other = "whsec_c2VjcmV0LWtleS1vZi10aGlydHktdHdvLWJ5dGVzISE="
	secrets, err := callbacks.ParseSecrets(vectorSecret + " " + other)
	require.NoError(t, err)

	billing := secrets.ClientSecret("billing")
	require.Equal(t, independentClientSecret(t, vectorSecret, "billing"), billing, "derived from the first, current, secret")
	require.NotEqual(t, billing, secrets.ClientSecret("billing2"))
	require.NotEqual(t, billing, secrets.ClientSecret("Billing"))
	require.NotEqual(t, billing, vectorSecret, "never the master itself")
	// Any client's secret is a secret receivers' libraries read.
	for _, client := range []string{"billing", "", "a\x00b", strings.Repeat("é", 100)} {
		_, err := callbacks.NewSigner(secrets.ClientSecret(client))
		require.NoError(t, err, client)
	}

	alone, err := callbacks.ParseSecrets(vectorSecret)
	require.NoError(t, err)
	require.Equal(t, billing, alone.ClientSecret("billing"), "older secrets change nothing of the current one's")
}

func TestParseSecrets(t *testing.T) {
	t.Parallel()
	const second = "whsec_c2VjcmV0LWtleS1vZi10aGlydHktdHdvLWJ5dGVzISE="
	for _, tt := range []struct {
		name, value, wantErr string
	}{
		{name: "one", value: vectorSecret},
		{name: "two, any white space", value: " " + vectorSecret + " \t" + second + "\n"},
		{name: "empty", value: " ", wantErr: "no callback secret given"},
		{name: "bad alone", value: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", wantErr: "callback secret must start with whsec_"},
		{name: "bad second", value: vectorSecret + " whsec_c2hvcnQ=", wantErr: "secret 2 of 2: callback secret must encode 24 to 64 bytes, not 5"},
		{name: "comma separated", value: vectorSecret + "," + second, wantErr: "followed by standard base64"},
		{name: "repeated", value: vectorSecret + " " + second + " " + vectorSecret, wantErr: "secret 3 of 3 repeats secret 1"},
		{name: "repeated, unpadded", value: vectorSecret + " " + second + " " + strings.TrimRight(second, "="), wantErr: "secret 3 of 3 repeats secret 2"},
		{name: "padding wrong", value: vectorSecret + " " + second + "=", wantErr: "secret 2 of 2: callback secret must be whsec_ followed by standard base64, padded with = or not"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := callbacks.ParseSecrets(tt.value)
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.Equal(t, independentClientSecret(t, vectorSecret, "c"), s.ClientSecret("c"))
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			for _, secret := range strings.Fields(tt.value) {
				require.NotContains(t, err.Error(), strings.TrimPrefix(secret, "whsec_"), "errors never quote a secret")
			}
		})
	}
}

// Secrets printed without base64's padding, as some tools print them, are
// the same secrets: the same keys, the same client secrets.
func TestParseSecretsUnpadded(t *testing.T) {
	t.Parallel()
	for _, padded := range []string{
		"whsec_c2VjcmV0LWtleS1vZi10aGlydHktdHdvLWJ5dGVzISE=",                              // one =
		"whsec_" + base64.StdEncoding.EncodeToString([]byte("twenty-five bytes of key!")), // two =
	} {
		unpadded := strings.TrimRight(padded, "=")
		require.NotEqual(t, padded, unpadded)
		want, err := callbacks.ParseSecrets(padded)
		require.NoError(t, err)
		got, err := callbacks.ParseSecrets(unpadded)
		require.NoError(t, err, "unpadded base64")
		require.Equal(t, want.ClientSecret("billing"), got.ClientSecret("billing"))

		signer, err := callbacks.NewSigner(unpadded)
		require.NoError(t, err)
		at := time.Unix(vectorTimestamp, 0)
		require.Equal(t, newSigner(t, padded).Sign("msg", at, []byte("{}")), signer.Sign("msg", at, []byte("{}")))
	}
}

func TestNewSignerRejects(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, secret, wantErr string
	}{
		{"no prefix", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with whsec_"},
		{"not base64", "whsec_not*base64*at*all", "followed by standard base64"},
		{"url-safe base64", "whsec_" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 24)), "followed by standard base64"},
		{"cut short", "whsec_" + base64.RawStdEncoding.EncodeToString(make([]byte, 25))[1:], "followed by standard base64"},
		{"too short", "whsec_" + base64.StdEncoding.EncodeToString([]byte("short")), "24 to 64 bytes, not 5"},
		{"too long", "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65)), "24 to 64 bytes, not 65"},
		{"empty", "", "must start with whsec_"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := callbacks.NewSigner(tt.secret)
			require.ErrorContains(t, err, tt.wantErr)
			if tt.secret != "" {
				require.NotContains(t, err.Error(), strings.TrimPrefix(tt.secret, "whsec_"), "errors never quote the secret")
			}
		})
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	s := newSigner(t, vectorSecret)
	signedAt := time.Unix(vectorTimestamp, 0)
	valid := func() http.Header {
		return http.Header{
			"Webhook-Id":        {vectorID},
			"Webhook-Timestamp": {strconv.Itoa(vectorTimestamp)},
			"Webhook-Signature": {vectorSignature},
		}
	}
	other := newSigner(t, "whsec_"+base64.StdEncoding.EncodeToString([]byte("another-key-of-24-bytes!")))

	for _, tt := range []struct {
		name    string
		header  func() http.Header
		body    string
		now     time.Time
		wantErr string
	}{
		{name: "valid", header: valid},
		{name: "valid within tolerance", header: valid, now: signedAt.Add(callbacks.Tolerance)},
		{name: "one of several signatures", header: func() http.Header {
			h := valid()
			h.Set("webhook-signature", "v1a,bm90LWFzeW1tZXRyaWM= v1,AAAA "+vectorSignature)
			return h
		}},
		{name: "body changed", header: valid, body: `{"test": 2432232315}`, wantErr: "no v1 signature matches"},
		{name: "id changed", header: func() http.Header {
			h := valid()
			h.Set("webhook-id", "msg_other")
			return h
		}, wantErr: "no v1 signature matches"},
		{name: "other secret", header: func() http.Header {
			h := valid()
			h.Set("webhook-signature", other.Sign(vectorID, signedAt, []byte(vectorBody)))
			return h
		}, wantErr: "no v1 signature matches"},
		{name: "too old", header: valid, now: signedAt.Add(callbacks.Tolerance + time.Second), wantErr: "more than 5m0s away"},
		{name: "from the future", header: valid, now: signedAt.Add(-callbacks.Tolerance - time.Second), wantErr: "more than 5m0s away"},
		{name: "timestamp not a number", header: func() http.Header {
			h := valid()
			h.Set("webhook-timestamp", "yesterday")
			return h
		}, wantErr: "not a Unix time"},
		{name: "no signature", header: func() http.Header {
			h := valid()
			h.Del("webhook-signature")
			return h
		}, wantErr: "missing"},
		{name: "signature without scheme", header: func() http.Header {
			h := valid()
			h.Set("webhook-signature", strings.TrimPrefix(vectorSignature, "v1,"))
			return h
		}, wantErr: "no v1 signature matches"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body, now := vectorBody, signedAt
			if tt.body != "" {
				body = tt.body
			}
			if !tt.now.IsZero() {
				now = tt.now
			}
			err := s.Verify(tt.header(), []byte(body), now)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, callbacks.ErrBadSignature)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

// Verify faces the network on the receiver's side: whatever arrives, it
// must not panic, and it accepts exactly what Sign produced.
func FuzzVerify(f *testing.F) {
	f.Add(vectorID, strconv.Itoa(vectorTimestamp), vectorSignature, []byte(vectorBody))
	f.Add("", "", "", []byte(nil))
	f.Add("id", "-9223372036854775808", "v1,==== v1, v1a,x", []byte("{}"))
	s, err := callbacks.NewSigner(vectorSecret)
	require.NoError(f, err)
	now := time.Unix(vectorTimestamp, 0)

	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sig)
		if err := s.Verify(h, body, now); err != nil {
			require.ErrorIs(t, err, callbacks.ErrBadSignature)
			return
		}
		seconds, err := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
		require.NoError(t, err)
		require.Contains(t, strings.Fields(h.Get("webhook-signature")), s.Sign(h.Get("webhook-id"), time.Unix(seconds, 0), body))
	})
}
