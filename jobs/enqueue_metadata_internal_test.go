package jobs

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
)

// jsonbNumber writes a number as Postgres's jsonb does, and refuses what
// Postgres refuses: the request hash and the size of metadata rest on it.
func TestJSONBNumber(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)

	tests := []struct {
		literal string
		// pgRefuses: Postgres fails the insert (SQLSTATE 22003); a
		// literal it takes and jsonbNumber refuses is beyond a float64.
		pgRefuses bool
	}{
		{literal: "0"}, {literal: "-0"}, {literal: "-0.0"}, {literal: "0.000"}, {literal: "0e5"}, {literal: "0.00e1"},
		{literal: "0e-3"}, {literal: "0E+2"}, {literal: "1"}, {literal: "-1"}, {literal: "10"}, {literal: "100.0"},
		{literal: "1.50"}, {literal: "1.50e1"}, {literal: "1.50e2"}, {literal: "1.5e-3"}, {literal: "-12.5e-1"},
		{literal: "1E2"}, {literal: "1e+2"}, {literal: "0.001"}, {literal: "0.0010"}, {literal: "0.5e0"},
		{literal: "9007199254740993"}, {literal: "18446744073709551616"}, {literal: "0.10000000000000000001"},
		{literal: "123.456e-2"}, {literal: "123.456e2"}, {literal: "123.456e5"}, {literal: "-0.000123e3"},
		{literal: "1e-400"}, {literal: "-2.5e-400"}, {literal: "1.7976931348623157e308"}, {literal: "-1.7976931348623157e308"},
		{literal: "4.9e-324"}, {literal: "1e-16383"}, {literal: "0.1e-16382"}, {literal: "0e999999999"},
		{literal: "1e400"}, {literal: "-1e309"},
		{literal: "1e-16384", pgRefuses: true}, {literal: "1.0e-16383", pgRefuses: true}, {literal: "100e-16385", pgRefuses: true},
		{literal: "0e-99999", pgRefuses: true}, {literal: "0e99999999999", pgRefuses: true}, {literal: "0e2147483648", pgRefuses: true},
	}
	for _, tt := range tests {
		got, ok := jsonbNumber(tt.literal)
		var want string
		err := pool.QueryRow(ctx, `SELECT $1::jsonb::text`, tt.literal).Scan(&want)
		if tt.pgRefuses {
			require.ErrorContains(t, err, "22003", tt.literal)
			require.False(t, ok, tt.literal)
			continue
		}
		require.NoError(t, err, tt.literal)
		if ok {
			require.Equal(t, want, got, tt.literal)
		} else {
			require.Contains(t, []string{"1e400", "-1e309"}, tt.literal, "refused although Postgres stores it as %s", want)
		}
	}
}

// Metadata of strings and integers below 2^53 hashes as it did when
// numbers were read as float64s (these are that code's hashes), so that an
// idempotent retry across the upgrade still replays.
func TestRequestHashUnchanged(t *testing.T) {
	t.Parallel()

	tests := []struct {
		opts EnqueueOpts
		want string
	}{
		{
			opts: EnqueueOpts{
				Metadata:    json.RawMessage(`{ "order": 1042, "tags": ["x", "<&>", "é\u2028"], "nested": {"b": true, "a": null, "n": -3, "f": 0.25} }`),
				CallbackURL: "https://example.com/done", RunAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
			},
			want: "2ab0cd5858f17590862255a93298eb82080f6d1bc46f15302ec50f688dfa1c4f",
		},
		{opts: EnqueueOpts{Priority: 1}, want: "1338fbfd7adc02e950ee0f47172ac774ffdfc80e746969fe60e8dfca68984ec4"},
	}
	for _, tt := range tests {
		valid, invalid := validateOpts(&tt.opts, tt.opts.RunAt)
		require.Empty(t, invalid)
		require.Equal(t, tt.want, hex.EncodeToString(requestHash([]byte(`{"prompt":"x"}`), valid, &tt.opts)))
	}
}

// FuzzCheckMetadata checks that no metadata makes checkMetadata panic,
// that every refusal names a field, and that what it accepts is valid JSON
// whose canonical form is a fixed point: accepted again, with the same
// canonical form, so that a retry sending it hashes alike.
func FuzzCheckMetadata(f *testing.F) {
	for _, seed := range []string{
		`{}`, `null`, ` {"a" : [1, 2.50, -0e-3, 1E2, true, false, null, {"b": "\u00e9\ud83d\ude00"}]} `,
		`{"a":{"b":"\ud800","c":"\u0000"},"a":[1e400,0e-99999,9007199254740993]}`, `{"\u0000":1,"\udfff":"\\u0000"}`,
		"{\"k\":\"\xff\"}", `[1]`, `{"a":`, `"x"`, `{"a":1e-400,"b":0.1e-16382}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		compact, canonical, invalid := checkMetadata(raw, "Metadata")
		if len(invalid) > 0 {
			require.Nil(t, compact)
			for _, fe := range invalid {
				require.True(t, fe.Field == "Metadata" || strings.HasPrefix(fe.Field, "Metadata."), fe.Field)
				require.NotEmpty(t, fe.Message)
			}
			return
		}
		if compact == nil {
			require.Nil(t, canonical)
			return
		}
		require.True(t, json.Valid(compact))
		again, canonicalAgain, invalid := checkMetadata(canonical, "Metadata")
		require.Empty(t, invalid, string(canonical))
		require.NotNil(t, again)
		require.Equal(t, string(canonical), string(canonicalAgain))
	})
}
