package canonicaljson

import (
	"math"
	"strconv"
)

// appendPythonFloat appends f the way Python's repr(float) writes it, which
// is what Synapse's canonical JSON (Python's json module) emits for floats in
// events of room versions 1–5. f must be finite.
//
// Python writes the shortest digits that round-trip. With decpt the position
// of the decimal point relative to those digits (value = 0.DIGITS × 10^decpt),
// it uses exponent notation when decpt <= -4 or decpt > 16, with a sign and
// at least two exponent digits ("1e-05", "1.5e+300"); otherwise fixed
// notation with at least one digit after the point ("100.0", "0.0001").
func appendPythonFloat(dst []byte, f float64) []byte {
	if f == 0 {
		if math.Signbit(f) {
			return append(dst, "-0.0"...)
		}
		return append(dst, "0.0"...)
	}
	// Go's shortest 'e' format has the same digits and, like Python, a
	// signed exponent of at least two digits.
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'e', -1, 64)
	e := len(dst) - 1
	for dst[e] != 'e' {
		e--
	}
	exp, _ := strconv.Atoi(string(dst[e+1:]))
	if decpt := exp + 1; decpt <= -4 || decpt > 16 {
		return dst
	}
	dst = strconv.AppendFloat(dst[:start], f, 'f', -1, 64)
	for _, c := range dst[start:] {
		if c == '.' {
			return dst
		}
	}
	return append(dst, '.', '0')
}
