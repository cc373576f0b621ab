package falsim

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReencodePython(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name, in, want string
	}{
		{"sorted keys and separators", `{"b":1,"a":[true,false,null]}`, `{"a": [true, false, null], "b": 1}`},
		{"empty containers", `{"a":{},"b":[]}`, `{"a": {}, "b": []}`},
		{"big integer kept verbatim", `{"seed":17454220438242315174}`, `{"seed": 17454220438242315174}`},
		{"float kept verbatim", `[3.50,1e-7]`, `[3.50, 1e-7]`},
		{"ascii escapes", `"a\"b\\c\n\t\r\b\f\u0001\u007f"`, `"a\"b\\c\n\t\r\b\f\u0001\u007f"`},
		{"html not escaped", `"<a&b>"`, `"<a&b>"`},
		{"non-ascii escaped", `"é€"`, `"\u00e9\u20ac"`},
		{"astral plane as surrogate pair", `"😀"`, `"\ud83d\ude00"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := reencodePython([]byte(tt.in))
			require.NoError(t, err)
			require.Equal(t, tt.want, string(got))
		})
	}
}

func FuzzReencodePython(f *testing.F) {
	f.Add([]byte(vectorBody))
	f.Add([]byte(`{"a":"\u00e9\ud83d\ude00","b":[1,2.5,-3e10]}`))
	f.Add([]byte(`"\u0000"`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		if !json.Valid(doc) {
			return
		}
		got, err := reencodePython(doc)
		require.NoError(t, err)
		require.Equal(t, decodeNumbers(t, doc), decodeNumbers(t, got), "re-encoding changed the value")
		for _, c := range got {
			require.Less(t, c, byte(0x80), "output must be ASCII")
		}
	})
}

func decodeNumbers(t *testing.T, doc []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v))
	return v
}
