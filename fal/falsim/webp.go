package falsim

import (
	"encoding/binary"
	"image/color"
	"math/bits"
	"slices"
)

// Go's standard library decodes no WebP and encodes none, and the module
// takes no dependency for the simulator, so output_format "webp" is served by
// this minimal lossless (VP8L) encoder. It handles only what the simulator
// draws, images whose rows are each one opaque colour, which it codes as runs
// of one literal pixel followed by copies of the pixel before. The format is
// RFC 9649.

// VP8L limits and alphabet sizes (RFC 9649, sections 3 and 5.2.2).
const (
	vp8lSignature      = 0x2f
	vp8lMaxCopyLength  = 4096
	vp8lLengthCodes    = 24
	vp8lDistanceCodes  = 40
	vp8lLiteralSymbols = 256
	// vp8lLeftDistanceCode is distance code 2, which the distance map
	// (section 4.2.2) turns into the pixel on the left, distance 1.
	vp8lLeftDistanceCode = 2
)

// vp8lCodeLengthOrder is the order in which code length code lengths are
// written (section 3.7.2.1.2).
var vp8lCodeLengthOrder = [...]int{17, 18, 0, 1, 2, 3, 4, 5, 16, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

// encodeRowsWebP encodes a width x len(rows) image whose row y is rows[y]
// as a lossless WebP file. width and len(rows) must be in [1, 16384].
func encodeRowsWebP(width int, rows []color.RGBA) []byte {
	type run struct {
		c color.RGBA
		n int
	}
	var runs []run
	for _, c := range rows {
		if len(runs) > 0 && runs[len(runs)-1].c == c {
			runs[len(runs)-1].n += width
			continue
		}
		runs = append(runs, run{c, width})
	}

	// The symbols each prefix code needs: the literal colours' components,
	// and the length prefixes of the copies. Alpha is always 0xff and the
	// distance always the pixel on the left.
	green := make([]bool, vp8lLiteralSymbols+vp8lLengthCodes)
	red := make([]bool, vp8lLiteralSymbols)
	blue := make([]bool, vp8lLiteralSymbols)
	for _, r := range runs {
		green[r.c.G], red[r.c.R], blue[r.c.B] = true, true, true
		for left := r.n - 1; left > 0; left -= vp8lMaxCopyLength {
			prefix, _, _ := vp8lPrefix(min(left, vp8lMaxCopyLength))
			green[vp8lLiteralSymbols+prefix] = true
		}
	}
	distancePrefix, _, _ := vp8lPrefix(vp8lLeftDistanceCode)

	var w bitWriter
	w.write(vp8lSignature, 8)
	w.write(uint32(width-1), 14)
	w.write(uint32(len(rows)-1), 14)
	w.write(0, 1) // alpha_is_used: every pixel is opaque
	w.write(0, 3) // version
	w.write(0, 1) // no transform
	w.write(0, 1) // no color cache
	w.write(0, 1) // no meta prefix codes: one set of codes for the image
	greenCode := writePrefixCode(&w, green)
	redCode := writePrefixCode(&w, red)
	blueCode := writePrefixCode(&w, blue)
	writePrefixCode(&w, oneSymbol(vp8lLiteralSymbols, 0xff))          // alpha: zero bits per pixel
	writePrefixCode(&w, oneSymbol(vp8lDistanceCodes, distancePrefix)) // distance: zero bits per copy

	for _, r := range runs {
		greenCode.write(&w, int(r.c.G))
		redCode.write(&w, int(r.c.R))
		blueCode.write(&w, int(r.c.B))
		for left := r.n - 1; left > 0; left -= vp8lMaxCopyLength {
			prefix, extraBits, extra := vp8lPrefix(min(left, vp8lMaxCopyLength))
			greenCode.write(&w, vp8lLiteralSymbols+prefix)
			w.write(extra, extraBits)
		}
	}
	data := w.bytes()

	padded := len(data) + len(data)%2
	out := make([]byte, 0, 20+padded)
	out = append(out, "RIFF"...)
	out = binary.LittleEndian.AppendUint32(out, uint32(12+padded))
	out = append(out, "WEBPVP8L"...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(data)))
	out = append(out, data...)
	if len(data)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

// vp8lPrefix splits v >= 1, a copy length or distance code, into its prefix
// symbol and extra bits (section 4.2.2): the inverse of
// prefix < 4 ? prefix+1 : ((2 + prefix&1) << extraBits) + extra + 1.
func vp8lPrefix(v int) (prefix int, extraBits uint, extra uint32) {
	if v <= 4 {
		return v - 1, 0, 0
	}
	d := v - 1
	high := bits.Len(uint(d)) - 1
	second := (d >> (high - 1)) & 1
	extraBits = uint(high - 1)
	return 2*high + second, extraBits, uint32(d) & (1<<extraBits - 1)
}

func oneSymbol(alphabet, symbol int) []bool {
	used := make([]bool, alphabet)
	used[symbol] = true
	return used
}

// prefixCode is a canonical prefix code: the bit-reversed code and length of
// each symbol, ready for the LSB-first bit writer.
type prefixCode struct {
	codes   []uint32
	lengths []uint8
}

func (c prefixCode) write(w *bitWriter, symbol int) {
	w.write(c.codes[symbol], uint(c.lengths[symbol]))
}

// writePrefixCode writes a complete prefix code over the symbols marked in
// used (at least one) and returns it. Decoders refuse incomplete codes, so
// the code gives every used symbol the floor or the ceiling of log2(count)
// bits.
func writePrefixCode(w *bitWriter, used []bool) prefixCode {
	var symbols []int
	for s, u := range used {
		if u {
			symbols = append(symbols, s)
		}
	}
	lengths := completeLengths(len(used), symbols)
	// A code of one symbol takes zero bits per symbol, however written.
	zeroBits := prefixCode{codes: make([]uint32, len(used)), lengths: make([]uint8, len(used))}
	if len(symbols) == 1 && symbols[0] < 256 {
		// Simple code length code of one symbol, written in 1 or 8 bits.
		w.write(1, 1)
		w.write(0, 1)
		if symbols[0] < 2 {
			w.write(0, 1)
			w.write(uint32(symbols[0]), 1)
		} else {
			w.write(1, 1)
			w.write(uint32(symbols[0]), 8)
		}
		return zeroBits
	}

	// Normal code length code: the code lengths themselves are written with
	// a prefix code over the lengths they use. Length 0 is always in it, so
	// that it has two symbols at least and takes bits to read.
	w.write(0, 1)
	lengthUsed := make([]bool, 19)
	lengthUsed[0] = true
	for _, l := range lengths {
		lengthUsed[l] = true
	}
	var lengthSymbols []int
	for l, u := range lengthUsed {
		if u {
			lengthSymbols = append(lengthSymbols, l)
		}
	}
	lengthLengths := completeLengths(len(lengthUsed), lengthSymbols)
	lengthCode := canonicalCode(lengthLengths)
	count := 4
	for i, l := range vp8lCodeLengthOrder {
		if lengthLengths[l] > 0 {
			count = max(count, i+1)
		}
	}
	w.write(uint32(count-4), 4)
	for _, l := range vp8lCodeLengthOrder[:count] {
		w.write(uint32(lengthLengths[l]), 3)
	}
	w.write(0, 1) // max_symbol is the alphabet size
	for _, l := range lengths {
		lengthCode.write(w, int(l))
	}
	if len(symbols) == 1 {
		return zeroBits
	}
	return canonicalCode(lengths)
}

// completeLengths gives the n symbols of an alphabet of size alphabet code
// lengths whose Kraft sum is exactly 1: with 2^k <= n < 2^(k+1),
// 2^(k+1) - n symbols get k bits and the rest k+1.
func completeLengths(alphabet int, symbols []int) []uint8 {
	lengths := make([]uint8, alphabet)
	n := len(symbols)
	if n == 1 {
		lengths[symbols[0]] = 1
		return lengths
	}
	k := bits.Len(uint(n)) - 1
	short := 1<<(k+1) - n
	if n == 1<<k {
		short = n
	}
	for i, s := range symbols {
		lengths[s] = uint8(k)
		if i >= short {
			lengths[s] = uint8(k + 1)
		}
	}
	return lengths
}

// canonicalCode assigns codes as DEFLATE does (RFC 1951, 3.2.2): by length,
// then by symbol. The decoder reads a code from its first bit, so each is
// stored bit-reversed for the LSB-first writer.
func canonicalCode(lengths []uint8) prefixCode {
	maxLength := slices.Max(lengths)
	count := make([]uint32, maxLength+1)
	for _, l := range lengths {
		if l > 0 {
			count[l]++
		}
	}
	next := make([]uint32, maxLength+1)
	for l := 1; l <= int(maxLength); l++ {
		next[l] = (next[l-1] + count[l-1]) << 1
	}
	codes := make([]uint32, len(lengths))
	for s, l := range lengths {
		if l == 0 {
			continue
		}
		codes[s] = bits.Reverse32(next[l]) >> (32 - l)
		next[l]++
	}
	return prefixCode{codes: codes, lengths: lengths}
}

// bitWriter packs values least significant bit first, as VP8L reads them.
type bitWriter struct {
	buf []byte
	acc uint64
	n   uint
}

func (w *bitWriter) write(v uint32, n uint) {
	w.acc |= uint64(v) << w.n
	w.n += n
	for w.n >= 8 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc >>= 8
		w.n -= 8
	}
}

func (w *bitWriter) bytes() []byte {
	if w.n > 0 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc, w.n = 0, 0
	}
	return w.buf
}
