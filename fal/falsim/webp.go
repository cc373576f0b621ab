package falsim

import (
	"encoding/binary"
	"image/color"
)

// Go's standard library neither decodes nor encodes WebP, and the module
// takes no dependency for the simulator, so output_format "webp" is served by
// this encoder of one-colour lossless (VP8L) images, RFC 9649. With one
// symbol in each of its five prefix codes an image costs zero bits per pixel:
// the file is the header and the codes, at most 32 bytes at any size.

// vp8lSignature starts a VP8L bitstream (RFC 9649, section 3).
const vp8lSignature = 0x2f

// encodeSolidWebP encodes a width x height image of colour c as a lossless
// WebP file. width and height must be in [1, 16384].
func encodeSolidWebP(width, height int, c color.RGBA) []byte {
	var w bitWriter
	w.write(vp8lSignature, 8)
	w.write(uint32(width-1), 14)
	w.write(uint32(height-1), 14)
	if c.A == 0xff {
		w.write(0, 1) // alpha_is_used: a hint that every pixel is opaque
	} else {
		w.write(1, 1)
	}
	w.write(0, 3) // version
	w.write(0, 1) // no transform
	w.write(0, 1) // no color cache
	w.write(0, 1) // no meta prefix codes: one group of codes for the image
	// The group's five codes: green (with the copy lengths), red, blue, alpha
	// and distance. The distance code is never read, as no pixel is a copy.
	for _, symbol := range []uint8{c.G, c.R, c.B, c.A, 0} {
		writeOneSymbolCode(&w, symbol)
	}
	// The pixels follow, each decoded from zero bits.
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

// writeOneSymbolCode writes a simple code length code (section 3.7.2.1.1)
// of the single symbol s, which the decoder then reads in zero bits.
func writeOneSymbolCode(w *bitWriter, s uint8) {
	w.write(1, 1) // simple code
	w.write(0, 1) // num_symbols - 1
	if s < 2 {
		w.write(0, 1) // is_first_8bits
		w.write(uint32(s), 1)
	} else {
		w.write(1, 1)
		w.write(uint32(s), 8)
	}
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
