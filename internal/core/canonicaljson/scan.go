package canonicaljson

import (
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of arrays and objects the package accepts.
// It bounds recursion on hostile input; serde_json (used by Ruma-based
// servers) has the same default limit.
const MaxDepth = 128

// maxSafeInteger is 2**53 - 1, the largest integer canonical JSON allows.
const maxSafeInteger = 1<<53 - 1

func syntaxErr(offset int, err error) *SyntaxError {
	return &SyntaxError{Offset: offset, Err: err}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(data []byte, pos int) int {
	for pos < len(data) && isSpace(data[pos]) {
		pos++
	}
	return pos
}

// scanLiteral checks that data[pos:] starts with lit and returns the
// position after it.
func scanLiteral(data []byte, pos int, lit string) (int, error) {
	if len(data)-pos < len(lit) || string(data[pos:pos+len(lit)]) != lit {
		return 0, syntaxErr(pos, ErrSyntax)
	}
	return pos + len(lit), nil
}

// scanNumber checks the RFC 8259 number grammar at data[pos:]. It returns the
// position after the number and whether the number has neither a fraction nor
// an exponent.
func scanNumber(data []byte, pos int) (end int, isInt bool, err error) {
	i := pos
	if i < len(data) && data[i] == '-' {
		i++
	}
	if i < len(data) && data[i] == '0' {
		i++
	} else if i, err = skipDigits(data, i); err != nil {
		return 0, false, err
	}
	isInt = true
	if i < len(data) && data[i] == '.' {
		if i, err = skipDigits(data, i+1); err != nil {
			return 0, false, err
		}
		isInt = false
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i, err = skipDigits(data, i); err != nil {
			return 0, false, err
		}
		isInt = false
	}
	return i, isInt, nil
}

// skipDigits returns the index after the one or more decimal digits that
// start at data[i].
func skipDigits(data []byte, i int) (int, error) {
	if i >= len(data) || !isDigit(data[i]) {
		return 0, syntaxErr(i, ErrSyntax)
	}
	for i++; i < len(data) && isDigit(data[i]); i++ {
	}
	return i, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseSafeInteger parses an integer token (as accepted by scanNumber with
// isInt) that must lie within ±(2**53−1).
func parseSafeInteger(tok []byte) (int64, bool) {
	neg := tok[0] == '-'
	if neg {
		tok = tok[1:]
	}
	if len(tok) > 16 { // 2**53-1 has 16 digits
		return 0, false
	}
	var n int64
	for _, c := range tok {
		n = n*10 + int64(c-'0')
	}
	if n > maxSafeInteger {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

// scanString scans the JSON string that starts with the quote at data[pos].
// It appends the string's value to dst: canonically escaped (without the
// surrounding quotes) if canonical is set, raw UTF-8 otherwise. It returns the
// extended dst, the position after the closing quote, and whether a canonical
// escape was written.
func scanString(dst, data []byte, pos int, canonical bool) ([]byte, int, bool, error) {
	i := pos + 1
	escaped := false
	for {
		run := i
		for i < len(data) {
			c := data[i]
			if c < utf8.RuneSelf {
				if c < 0x20 || c == '"' || c == '\\' {
					break
				}
				i++
				continue
			}
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				return dst, 0, false, syntaxErr(i, ErrInvalidUTF8)
			}
			i += size
		}
		dst = append(dst, data[run:i]...)
		if i >= len(data) {
			return dst, 0, false, syntaxErr(i, ErrSyntax) // unterminated
		}
		switch data[i] {
		case '"':
			return dst, i + 1, escaped, nil
		case '\\':
		default:
			return dst, 0, false, syntaxErr(i, ErrSyntax) // raw control character
		}
		if i+1 >= len(data) {
			return dst, 0, false, syntaxErr(i, ErrSyntax)
		}
		var r rune
		switch data[i+1] {
		case '"':
			r = '"'
		case '\\':
			r = '\\'
		case '/':
			r = '/'
		case 'b':
			r = '\b'
		case 'f':
			r = '\f'
		case 'n':
			r = '\n'
		case 'r':
			r = '\r'
		case 't':
			r = '\t'
		case 'u':
			r1, ok := hex4(data, i+2)
			if !ok {
				return dst, 0, false, syntaxErr(i, ErrSyntax)
			}
			r = r1
			if utf16.IsSurrogate(r1) {
				// A high surrogate must be followed by an escaped low
				// surrogate; anything else cannot be encoded as UTF-8.
				if r1 >= 0xDC00 || i+12 > len(data) || data[i+6] != '\\' || data[i+7] != 'u' {
					return dst, 0, false, syntaxErr(i, ErrLoneSurrogate)
				}
				r2, ok := hex4(data, i+8)
				if !ok {
					return dst, 0, false, syntaxErr(i+6, ErrSyntax)
				}
				if r2 < 0xDC00 || r2 > 0xDFFF {
					return dst, 0, false, syntaxErr(i, ErrLoneSurrogate)
				}
				r = utf16.DecodeRune(r1, r2)
				i += 6
			}
			i += 4
		default:
			return dst, 0, false, syntaxErr(i, ErrSyntax)
		}
		i += 2
		if canonical {
			var e bool
			dst, e = appendCanonicalRune(dst, r)
			escaped = escaped || e
		} else {
			dst = utf8.AppendRune(dst, r)
		}
	}
}

func hex4(data []byte, pos int) (rune, bool) {
	if pos+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[pos : pos+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

const lowerHex = "0123456789abcdef"

// appendCanonicalRune appends r as the spec's grammar requires: '"', '\' and
// the control characters below U+0020 are escaped (with the short forms
// where one exists, else \u00XX in lowercase hex), everything else is raw
// UTF-8. It reports whether it wrote an escape.
func appendCanonicalRune(dst []byte, r rune) ([]byte, bool) {
	switch {
	case r == '"':
		return append(dst, '\\', '"'), true
	case r == '\\':
		return append(dst, '\\', '\\'), true
	case r < 0x20:
		switch r {
		case '\b':
			return append(dst, '\\', 'b'), true
		case '\t':
			return append(dst, '\\', 't'), true
		case '\n':
			return append(dst, '\\', 'n'), true
		case '\f':
			return append(dst, '\\', 'f'), true
		case '\r':
			return append(dst, '\\', 'r'), true
		}
		return append(dst, '\\', 'u', '0', '0', lowerHex[r>>4], lowerHex[r&0xf]), true
	case r < utf8.RuneSelf:
		return append(dst, byte(r)), false
	}
	return utf8.AppendRune(dst, r), false
}

// appendCanonicalString appends the canonical encoding of the valid UTF-8
// string s, with quotes.
func appendCanonicalString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	run := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[run:i]...)
		dst, _ = appendCanonicalRune(dst, rune(c))
		run = i + 1
	}
	dst = append(dst, s[run:]...)
	return append(dst, '"')
}

// unescapeCanonical turns the canonical encoding of a string (without
// quotes), as written by appendCanonicalRune, back into its raw bytes.
func unescapeCanonical(dst, enc []byte) []byte {
	for i := 0; i < len(enc); i++ {
		c := enc[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		switch enc[i] {
		case 'b':
			dst = append(dst, '\b')
		case 't':
			dst = append(dst, '\t')
		case 'n':
			dst = append(dst, '\n')
		case 'f':
			dst = append(dst, '\f')
		case 'r':
			dst = append(dst, '\r')
		case 'u': // \u00XX
			r, _ := hex4(enc, i+1)
			dst = append(dst, byte(r))
			i += 4
		default: // '"' or '\\'
			dst = append(dst, enc[i])
		}
	}
	return dst
}
