package webhooks

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBoundedHeader(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, value, want string
	}{
		{name: "short", value: "req-1", want: "req-1"},
		{name: "at the limit", value: strings.Repeat("a", maxHeaderValueBytes), want: strings.Repeat("a", maxHeaderValueBytes)},
		{
			name: "over the limit", value: strings.Repeat("a", maxHeaderValueBytes+1),
			want: strings.Repeat("a", maxHeaderValueBytes) + "… (cut from 257 bytes)",
		},
		{
			// Byte 256 is the second of an é: the cut goes before it.
			name: "cut inside a character", value: "a" + strings.Repeat("é", maxHeaderValueBytes),
			want: "a" + strings.Repeat("é", maxHeaderValueBytes/2-1) + "… (cut from 513 bytes)",
		},
		{
			// HTTP allows any byte over 0x7f in a value; a text column
			// takes only UTF-8.
			name: "not UTF-8", value: "req-\xff\xfe-1", want: "req-\uFFFD-1",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, boundedHeader(tt.value))
		})
	}
}

func TestKeptHeaders(t *testing.T) {
	t.Parallel()

	signature := http.Header{}
	signature.Set("X-Fal-Webhook-Request-Id", "req-1")
	signature.Set("X-Fal-Webhook-User-Id", "user-1")
	signature.Set("X-Fal-Webhook-Timestamp", "1760000000")
	signature.Set("X-Fal-Webhook-Signature", strings.Repeat("0", 128))

	// withSignature is signature's headers and extra's.
	withSignature := func(extra http.Header) http.Header {
		h := signature.Clone()
		for name, values := range extra {
			h[name] = values
		}
		return h
	}
	padding := http.Header{}
	for i := range 40 {
		// Sorted after fal's, in the order of i.
		padding.Set(fmt.Sprintf("A-Padding-%02d", i), strings.Repeat("p", 200))
	}
	huge := strings.Repeat("h", 64<<10)

	tests := []struct {
		name   string
		header http.Header
		want   map[string]string
	}{
		{
			name: "credentials are never kept",
			header: withSignature(http.Header{
				"Authorization": {"Bearer secret"}, "Cookie": {"session=secret"}, "Proxy-Authorization": {"Basic secret"},
				"User-Agent": {"fal-webhook"}, "Accept": {"a", "b"},
			}),
			want: map[string]string{
				"X-Fal-Webhook-Request-Id": "req-1", "X-Fal-Webhook-User-Id": "user-1", "X-Fal-Webhook-Timestamp": "1760000000",
				"X-Fal-Webhook-Signature": strings.Repeat("0", 128), "User-Agent": "fal-webhook", "Accept": "a, b",
			},
		},
		{
			name:   "long names and values are cut",
			header: http.Header{"X-Fal-Webhook-Request-Id": {huge}, huge: {"v"}},
			want: map[string]string{
				"X-Fal-Webhook-Request-Id":                            strings.Repeat("h", 256) + "… (cut from 65536 bytes)",
				strings.Repeat("h", 256) + "… (cut from 65536 bytes)": "v",
			},
		},
		{
			name:   "fal's headers first, then the others until 4 KiB of JSON",
			header: withSignature(padding),
			want: func() map[string]string {
				// In JSON, `{}` and each `"name": "value", `.
				want := map[string]string{}
				size := 2
				for name, values := range signature {
					want[name] = values[0]
					size += len(name) + len(values[0]) + 8
				}
				i := 0
				for ; size+len("A-Padding-00")+200+8 <= maxStoredHeadersBytes; i++ {
					want[fmt.Sprintf("A-Padding-%02d", i)] = strings.Repeat("p", 200)
					size += len("A-Padding-00") + 200 + 8
				}
				want["(omitted)"] = fmt.Sprintf("%d headers beyond the 4096 bytes kept", 40-i)
				return want
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, keptHeaders(tt.header))
		})
	}
}
