package falsim

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"image/color"
	"testing"

	"github.com/stretchr/testify/require"
)

// No WebP decoder is available to the tests. Each golden file below was
// decoded once with libwebp 1.2.4 (`dwebp golden.webp -pam`), which gave
// every pixel exactly the colour named.
func TestSolidWebPGolden(t *testing.T) {
	t.Parallel()

	render := func(variant int) func() []byte {
		return func() []byte {
			b, err := renderImage(imageKey{width: 3, height: 2, variant: variant, format: formatWebP})
			require.NoError(t, err)
			return b
		}
	}
	solid := func(c color.RGBA) func() []byte {
		return func() []byte { return encodeSolidWebP(3, 2, c) }
	}
	tests := []struct {
		name   string
		encode func() []byte
		want   string
	}{
		{"variant 0, its gradient's middle 81374e", render(0), "5249464618000000574542505650384c0c0000002f02400000e84d03ebd4ff00"},
		{"nsfw blank, black", render(blackVariant), "5249464616000000574542505650384c090000002f024000008888fe0700"},
		{"components below 2, written in 1 bit", solid(color.RGBA{1, 0, 1, 0xff}), "5249464616000000574542505650384c090000002f0240000088ccfe0700"},
		{"translucent", solid(color.RGBA{0x12, 0x34, 0x56, 0x78}), "5249464618000000574542505650384c0c0000002f02400010284d256a55bc00"},
		{"transparent, odd chunk padded", solid(color.RGBA{2, 1, 0xff, 0}), "5249464616000000574542505650384c0a0000002f02400010c80af43f02"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, hex.EncodeToString(tt.encode()))
		})
	}
}

// The image's size is only in the header: the file is as small at the
// format's largest size, and its fields hold that size.
func TestSolidWebPHeader(t *testing.T) {
	t.Parallel()

	for _, size := range [][2]int{{1, 1}, {65, 67}, {maxSize, maxSize}, {16383, 3}, {16384, 16384}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			t.Parallel()
			b := encodeSolidWebP(size[0], size[1], color.RGBA{0x81, 0x37, 0x4e, 0xff})
			require.Len(t, b, 32)
			require.Equal(t, "RIFF", string(b[0:4]))
			require.Equal(t, len(b)-8, int(binary.LittleEndian.Uint32(b[4:8])), "RIFF size")
			require.Equal(t, "WEBPVP8L", string(b[8:16]))
			chunk := int(binary.LittleEndian.Uint32(b[16:20]))
			require.Equal(t, len(b)-20, chunk+chunk%2, "VP8L chunk size, padded to even")
			require.Equal(t, byte(vp8lSignature), b[20])
			header := binary.LittleEndian.Uint32(b[21:25])
			require.Equal(t, size[0], int(header&0x3fff)+1, "width")
			require.Equal(t, size[1], int(header>>14&0x3fff)+1, "height")
			require.Zero(t, header>>28&1, "alpha_is_used")
			require.Zero(t, header>>29, "version")
		})
	}
}

func TestBitWriter(t *testing.T) {
	t.Parallel()

	var w bitWriter
	w.write(0x2f, 8)
	w.write(1, 1)
	w.write(0, 2)
	w.write(0x1f, 5)
	w.write(0x3fff, 14)
	require.Equal(t, []byte{0x2f, 0b11111001, 0xff, 0x3f}, w.bytes())
}
