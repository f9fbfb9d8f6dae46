package canonicaljson

import (
	"bytes"
	"slices"
	"strconv"
	"sync"
)

// Canonicalize strictly parses the JSON text data and returns its canonical
// encoding. Numbers must be integers within ±(2**53−1) without fraction or
// exponent, as room versions 6 and later require.
//
// NOTSPEC: "-0" is accepted and written as 0. The appendix says -0 "MUST NOT
// appear" in canonical JSON yet its own example canonicalizes -0 to 0, and
// Synapse (Python's json) reads -0 as the integer 0; rejecting it would
// split Hafen from the rest of the network.
//
// NOTSPEC: numbers with a fraction or exponent are rejected even when their
// value is an integer (the appendix's example turns 1e10 into 10000000000).
// Synapse rejects them in v6+ events ("Bad JSON value: float"), and the v6
// rules demand that the format, "represented without exponents or decimal
// places", be enforced strictly. Use CanonicalizeLegacy for old rooms.
func Canonicalize(data []byte) ([]byte, error) {
	return canonicalize(data, false, nil)
}

// CanonicalizeLegacy is Canonicalize for events of room versions 1–5, which
// may hold numbers of any size and floats. Such numbers are kept and written
// the way Synapse writes them (Python's json module):
//
//   - an integer without fraction or exponent keeps its digits exactly,
//     whatever its size ("-0" becomes "0", as Python reads it as int 0);
//   - any other number is rounded to the nearest IEEE double and written
//     as Python's repr(float): the shortest digits that round-trip, in
//     fixed notation with at least one fractional digit ("1e10" becomes
//     "10000000000.0", "1.50" becomes "1.5") when the decimal exponent is
//     in [-4, 16), else in exponent notation with a signed exponent of at
//     least two digits ("1e-05", "1e+16", "1.5e+300");
//   - a number that overflows a double is rejected with ErrNumberRange
//     (Python would read it as Infinity, which canonical JSON refuses).
//
// For input that Canonicalize accepts, CanonicalizeLegacy returns the same
// bytes.
func CanonicalizeLegacy(data []byte) ([]byte, error) {
	return canonicalize(data, true, nil)
}

// CanonicalizeWithout is Canonicalize for a JSON object, leaving out the
// top-level members whose keys are listed in omit. Omitted members are still
// checked. It is how signatures and hashes are computed: for example
// CanonicalizeWithout(event, "signatures", "unsigned").
func CanonicalizeWithout(data []byte, omit ...string) ([]byte, error) {
	return canonicalizeObject(data, false, omit)
}

// CanonicalizeLegacyWithout is CanonicalizeLegacy for a JSON object, leaving
// out the top-level members whose keys are listed in omit.
func CanonicalizeLegacyWithout(data []byte, omit ...string) ([]byte, error) {
	return canonicalizeObject(data, true, omit)
}

func canonicalizeObject(data []byte, legacy bool, omit []string) ([]byte, error) {
	if p := skipSpace(data, 0); p >= len(data) || data[p] != '{' {
		return nil, syntaxErr(p, ErrNotObject)
	}
	return canonicalize(data, legacy, omit)
}

func canonicalize(data []byte, legacy bool, omit []string) ([]byte, error) {
	c := canonicalizerPool.Get().(*canonicalizer)
	out, err := c.run(make([]byte, 0, len(data)), data, legacy, omit)
	c.release()
	if err != nil {
		return nil, err
	}
	return out, nil
}

// appendCanonical appends the canonical encoding of data to dst.
func appendCanonical(dst, data []byte, legacy bool) ([]byte, error) {
	c := canonicalizerPool.Get().(*canonicalizer)
	out, err := c.run(dst, data, legacy, nil)
	c.release()
	return out, err
}

var canonicalizerPool = sync.Pool{New: func() any { return new(canonicalizer) }}

// member is one "key":value pair of an object being canonicalized.
type member struct {
	// The raw (unescaped) key is out[keyOff:keyOff+keyLen], or
	// keys[keyOff:keyOff+keyLen] if inKeys.
	keyOff, keyLen int
	inKeys         bool
	// start and end delimit `"key":value` in out.
	start, end int
}

// canonicalizer is a single-pass recursive descent parser that writes the
// canonical encoding as it reads. Object members are written in input order
// and, if they were not already sorted, reordered in place when the object
// ends. Its scratch buffers are pooled.
type canonicalizer struct {
	data   []byte
	pos    int
	out    []byte
	legacy bool
	// omit lists the keys to drop from the top-level object.
	omit []string

	members []member // a stack: each open object uses members[base:]
	keys    []byte   // unescaped keys that differ from their encoding
	tmp     []byte   // scratch for reordering members
	num     []byte   // scratch for formatting floats
}

func (c *canonicalizer) release() {
	c.data, c.out, c.omit = nil, nil, nil
	if cap(c.members) > 1<<12 || cap(c.keys) > 1<<16 || cap(c.tmp) > 1<<20 {
		return // do not keep huge buffers alive
	}
	c.members, c.keys, c.tmp = c.members[:0], c.keys[:0], c.tmp[:0]
	canonicalizerPool.Put(c)
}

func (c *canonicalizer) run(dst, data []byte, legacy bool, omit []string) ([]byte, error) {
	c.data, c.pos, c.out, c.legacy, c.omit = data, 0, dst, legacy, omit
	if err := c.value(0); err != nil {
		return nil, err
	}
	if c.pos = skipSpace(c.data, c.pos); c.pos != len(c.data) {
		return nil, syntaxErr(c.pos, ErrTrailingData)
	}
	return c.out, nil
}

func (c *canonicalizer) value(depth int) error {
	c.pos = skipSpace(c.data, c.pos)
	if c.pos >= len(c.data) {
		return syntaxErr(c.pos, ErrSyntax)
	}
	var err error
	switch b := c.data[c.pos]; b {
	case '{':
		return c.object(depth + 1)
	case '[':
		return c.array(depth + 1)
	case '"':
		c.out = append(c.out, '"')
		c.out, c.pos, _, err = scanString(c.out, c.data, c.pos, true)
		c.out = append(c.out, '"')
		return err
	case 't':
		return c.literal("true")
	case 'f':
		return c.literal("false")
	case 'n':
		return c.literal("null")
	default:
		if b == '-' || isDigit(b) {
			return c.number()
		}
		return syntaxErr(c.pos, ErrSyntax)
	}
}

func (c *canonicalizer) literal(lit string) error {
	end, err := scanLiteral(c.data, c.pos, lit)
	if err != nil {
		return err
	}
	c.pos = end
	c.out = append(c.out, lit...)
	return nil
}

func (c *canonicalizer) number() error {
	start := c.pos
	end, isInt, err := scanNumber(c.data, start)
	if err != nil {
		return err
	}
	tok := c.data[start:end]
	c.pos = end
	switch {
	case isInt && (len(tok) == 2 && tok[0] == '-' && tok[1] == '0'):
		c.out = append(c.out, '0')
	case isInt && c.legacy:
		c.out = append(c.out, tok...)
	case isInt:
		if _, ok := parseSafeInteger(tok); !ok {
			return syntaxErr(start, ErrIntegerRange)
		}
		c.out = append(c.out, tok...)
	case c.legacy:
		f, err := strconv.ParseFloat(string(tok), 64)
		if err != nil {
			return syntaxErr(start, ErrNumberRange)
		}
		c.out = appendPythonFloat(c.out, f)
	default:
		return syntaxErr(start, ErrNotInteger)
	}
	return nil
}

func (c *canonicalizer) array(depth int) error {
	if depth > MaxDepth {
		return syntaxErr(c.pos, ErrTooDeep)
	}
	c.pos++ // '['
	c.out = append(c.out, '[')
	if c.pos = skipSpace(c.data, c.pos); c.pos < len(c.data) && c.data[c.pos] == ']' {
		c.pos++
		c.out = append(c.out, ']')
		return nil
	}
	for {
		if err := c.value(depth); err != nil {
			return err
		}
		c.pos = skipSpace(c.data, c.pos)
		if c.pos >= len(c.data) {
			return syntaxErr(c.pos, ErrSyntax)
		}
		switch c.data[c.pos] {
		case ',':
			c.pos++
			c.out = append(c.out, ',')
		case ']':
			c.pos++
			c.out = append(c.out, ']')
			return nil
		default:
			return syntaxErr(c.pos, ErrSyntax)
		}
	}
}

func (c *canonicalizer) object(depth int) error {
	if depth > MaxDepth {
		return syntaxErr(c.pos, ErrTooDeep)
	}
	objPos := c.pos
	c.pos++ // '{'
	c.out = append(c.out, '{')
	segStart := len(c.out)
	base, keyBase := len(c.members), len(c.keys)
	omitHere := depth == 1 && len(c.omit) > 0
	kept := 0 // members written to out
	if c.pos = skipSpace(c.data, c.pos); c.pos < len(c.data) && c.data[c.pos] == '}' {
		c.pos++
		c.out = append(c.out, '}')
		return nil
	}
	for {
		c.pos = skipSpace(c.data, c.pos)
		if c.pos >= len(c.data) || c.data[c.pos] != '"' {
			return syntaxErr(c.pos, ErrSyntax)
		}
		memberPos := len(c.out)
		if kept > 0 {
			c.out = append(c.out, ',')
		}
		m := member{start: len(c.out)}
		c.out = append(c.out, '"')
		var (
			escaped bool
			err     error
		)
		c.out, c.pos, escaped, err = scanString(c.out, c.data, c.pos, true)
		if err != nil {
			return err
		}
		if escaped {
			m.inKeys, m.keyOff = true, len(c.keys)
			c.keys = unescapeCanonical(c.keys, c.out[m.start+1:])
			m.keyLen = len(c.keys) - m.keyOff
		} else {
			m.keyOff, m.keyLen = m.start+1, len(c.out)-m.start-1
		}
		c.out = append(c.out, '"')
		if c.pos = skipSpace(c.data, c.pos); c.pos >= len(c.data) || c.data[c.pos] != ':' {
			return syntaxErr(c.pos, ErrSyntax)
		}
		c.pos++
		c.out = append(c.out, ':')
		if err := c.value(depth); err != nil {
			return err
		}
		m.end = len(c.out)
		if omitHere && c.omitted(c.key(m)) {
			// Keep the key for the duplicate check, drop the output.
			m.start, m.end = -1, -1
			if !m.inKeys {
				off := len(c.keys)
				c.keys = append(c.keys, c.out[m.keyOff:m.keyOff+m.keyLen]...)
				m.inKeys, m.keyOff = true, off
			}
			c.out = c.out[:memberPos]
		} else {
			kept++
		}
		c.members = append(c.members, m)
		c.pos = skipSpace(c.data, c.pos)
		if c.pos >= len(c.data) {
			return syntaxErr(c.pos, ErrSyntax)
		}
		if c.data[c.pos] == ',' {
			c.pos++
			continue
		}
		if c.data[c.pos] != '}' {
			return syntaxErr(c.pos, ErrSyntax)
		}
		c.pos++
		break
	}
	err := c.sortMembers(c.members[base:], segStart, objPos)
	c.members, c.keys = c.members[:base], c.keys[:keyBase]
	c.out = append(c.out, '}')
	return err
}

func (c *canonicalizer) omitted(key []byte) bool {
	for _, o := range c.omit {
		if string(key) == o { // does not allocate
			return true
		}
	}
	return false
}

func (c *canonicalizer) key(m member) []byte {
	if m.inKeys {
		return c.keys[m.keyOff : m.keyOff+m.keyLen]
	}
	return c.out[m.keyOff : m.keyOff+m.keyLen]
}

// sortMembers checks that the keys of ms are unique and, if they are not
// already in code point order (byte order of UTF-8), rewrites the object's
// members in out[segStart:] in sorted order.
func (c *canonicalizer) sortMembers(ms []member, segStart, objPos int) error {
	sorted := true
	for i := 1; i < len(ms); i++ {
		switch bytes.Compare(c.key(ms[i-1]), c.key(ms[i])) {
		case 0:
			return syntaxErr(objPos, ErrDuplicateKey)
		case 1:
			sorted = false
		}
	}
	if sorted {
		return nil
	}
	slices.SortFunc(ms, func(a, b member) int { return bytes.Compare(c.key(a), c.key(b)) })
	for i := 1; i < len(ms); i++ {
		if bytes.Equal(c.key(ms[i-1]), c.key(ms[i])) {
			return syntaxErr(objPos, ErrDuplicateKey)
		}
	}
	c.tmp = append(c.tmp[:0], c.out[segStart:]...)
	c.out = c.out[:segStart]
	n := 0
	for _, m := range ms {
		if m.start < 0 {
			continue // omitted
		}
		if n > 0 {
			c.out = append(c.out, ',')
		}
		n++
		c.out = append(c.out, c.tmp[m.start-segStart:m.end-segStart]...)
	}
	return nil
}
