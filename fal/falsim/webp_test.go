package falsim

import (
	"math/bits"
	"testing"

	"github.com/stretchr/testify/require"
)

// The encoder's output was checked once against libwebp (dwebp decodes every
// size and variant pixel-exactly to the PNG's pixels); no WebP decoder is
// available to the tests, so these check the parts a decoder would reject.

func TestVP8LPrefixInvertsTheDecoder(t *testing.T) {
	t.Parallel()

	// RFC 9649, section 4.2.2.
	decode := func(prefix int, extra uint32) int {
		if prefix < 4 {
			return prefix + 1
		}
		extraBits := (prefix - 2) >> 1
		offset := (2 + prefix&1) << extraBits
		return offset + int(extra) + 1
	}
	for v := 1; v <= vp8lMaxCopyLength; v++ {
		prefix, extraBits, extra := vp8lPrefix(v)
		require.Less(t, prefix, vp8lLengthCodes, "v %d", v)
		require.Less(t, extra, uint32(1)<<extraBits, "v %d", v)
		if prefix >= 4 {
			require.Equal(t, uint((prefix-2)>>1), extraBits, "v %d", v)
		}
		require.Equal(t, v, decode(prefix, extra), "v %d", v)
	}
}

// Decoders refuse an incomplete code, and a code must be prefix-free.
func TestPrefixCodesAreCompleteAndPrefixFree(t *testing.T) {
	t.Parallel()

	const alphabet = vp8lLiteralSymbols + vp8lLengthCodes
	for n := 2; n <= alphabet; n++ {
		symbols := make([]int, n)
		for i := range symbols {
			symbols[i] = (i * 7) % alphabet // spread over the alphabet, in order only for small n
		}
		symbols = sortedUnique(symbols)
		lengths := completeLengths(alphabet, symbols)
		var kraft float64
		for _, l := range lengths {
			if l > 0 {
				require.LessOrEqual(t, l, uint8(15))
				kraft += 1 / float64(uint(1)<<l)
			}
		}
		require.InDelta(t, 1, kraft, 1e-12, "n %d", len(symbols))

		code := canonicalCode(lengths)
		seen := map[[2]uint32]bool{}
		for s, l := range code.lengths {
			if l == 0 {
				continue
			}
			msbFirst := bits.Reverse32(code.codes[s]) >> (32 - l)
			for shorter := uint8(1); shorter <= l; shorter++ {
				require.False(t, seen[[2]uint32{uint32(shorter), msbFirst >> (l - shorter)}], "code of %d has a prefix that is a code", s)
			}
			seen[[2]uint32{uint32(l), msbFirst}] = true
		}
	}
}

func sortedUnique(xs []int) []int {
	present := map[int]bool{}
	for _, x := range xs {
		present[x] = true
	}
	var out []int
	for x := range vp8lLiteralSymbols + vp8lLengthCodes {
		if present[x] {
			out = append(out, x)
		}
	}
	return out
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
