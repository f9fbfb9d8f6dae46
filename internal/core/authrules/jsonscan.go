package authrules

import (
	"bytes"
	"encoding/json"
)

// The auth rules read a handful of content fields of a handful of events.
// Rather than decoding whole contents (encoding/json also matches struct
// field names case-insensitively, which the rules must not do), Hafen walks
// the object's members and looks only at the keys a rule names.

// eachMember calls fn with the key (undecoded, without quotes) and the raw
// value of every member of the JSON object data, in order, until fn returns
// false. It reports whether data is a well-formed JSON object.
func eachMember(data []byte, fn func(key []byte, val []byte) bool) bool {
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		return skipWS(data, i+1) == len(data)
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return false
		}
		kEnd, ok := skipString(data, i)
		if !ok {
			return false
		}
		key := data[i+1 : kEnd-1]
		i = skipWS(data, kEnd)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		i = skipWS(data, i+1)
		vEnd, ok := skipValue(data, i, 0)
		if !ok {
			return false
		}
		if !fn(key, data[i:vEnd]) {
			return true
		}
		var done bool
		if i, done, ok = next(data, vEnd, '}'); !ok || done {
			return ok && skipWS(data, i) == len(data)
		}
	}
}

// eachElement calls fn with the raw value of every element of the JSON array
// data, in order, until fn returns false. It reports whether data is a
// well-formed JSON array.
func eachElement(data []byte, fn func(val []byte) bool) bool {
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '[' {
		return false
	}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == ']' {
		return skipWS(data, i+1) == len(data)
	}
	for {
		end, ok := skipValue(data, i, 0)
		if !ok {
			return false
		}
		if !fn(data[i:end]) {
			return true
		}
		var done bool
		if i, done, ok = next(data, end, ']'); !ok || done {
			return ok && skipWS(data, i) == len(data)
		}
	}
}

// next reads what follows a member or element that ends at data[i]: a ','
// (next is the start of the following member or element) or closing (next
// is the index after it, and done is set).
func next(data []byte, i int, closing byte) (next int, done, ok bool) {
	i = skipWS(data, i)
	if i >= len(data) {
		return 0, false, false
	}
	switch data[i] {
	case ',':
		return skipWS(data, i+1), false, true
	case closing:
		return i + 1, true, true
	}
	return 0, false, false
}

// keyIs reports whether the raw key (as passed by eachMember) equals name.
func keyIs(key []byte, name string) bool {
	if bytes.IndexByte(key, '\\') < 0 {
		return string(key) == name
	}
	s, ok := decodeKey(key)
	return ok && s == name
}

// decodeKey decodes a raw key as passed by eachMember.
func decodeKey(key []byte) (string, bool) {
	if bytes.IndexByte(key, '\\') < 0 {
		return string(key), true
	}
	var s string
	buf := make([]byte, 0, len(key)+2)
	buf = append(buf, '"')
	buf = append(buf, key...)
	buf = append(buf, '"')
	if err := json.Unmarshal(buf, &s); err != nil {
		return "", false
	}
	return s, true
}

// stringValue decodes val if it is a JSON string.
func stringValue(val []byte) (string, bool) {
	if len(val) < 2 || val[0] != '"' || val[len(val)-1] != '"' {
		return "", false
	}
	inner := val[1 : len(val)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(val, &s); err != nil {
		return "", false
	}
	return s, true
}

// member returns the raw value of the first member named name of the JSON
// object data, and whether there is one. Objects with duplicate keys do not
// reach the auth rules: event parsing rejects them.
func member(data []byte, name string) ([]byte, bool) {
	var out []byte
	found := false
	eachMember(data, func(k, v []byte) bool {
		if keyIs(k, name) {
			out, found = v, true
			return false
		}
		return true
	})
	return out, found
}

// stringMember returns the string value of member name, and whether there
// is a member of that name holding a string.
func stringMember(data []byte, name string) (string, bool) {
	v, ok := member(data, name)
	if !ok {
		return "", false
	}
	return stringValue(v)
}

func isObject(val []byte) bool { return len(val) > 0 && val[0] == '{' }

func skipWS(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// maxDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxDepth = 512

// skipValue returns the end of the JSON value starting at data[i].
func skipValue(data []byte, i, depth int) (int, bool) {
	if i >= len(data) || depth > maxDepth {
		return 0, false
	}
	switch c := data[i]; {
	case c == '"':
		return skipString(data, i)
	case c == '{':
		i = skipWS(data, i+1)
		if i < len(data) && data[i] == '}' {
			return i + 1, true
		}
		for {
			if i >= len(data) || data[i] != '"' {
				return 0, false
			}
			end, ok := skipString(data, i)
			if !ok {
				return 0, false
			}
			i = skipWS(data, end)
			if i >= len(data) || data[i] != ':' {
				return 0, false
			}
			if i, ok = skipValue(data, skipWS(data, i+1), depth+1); !ok {
				return 0, false
			}
			var done bool
			if i, done, ok = next(data, i, '}'); !ok || done {
				return i, ok
			}
		}
	case c == '[':
		i = skipWS(data, i+1)
		if i < len(data) && data[i] == ']' {
			return i + 1, true
		}
		for {
			var ok, done bool
			if i, ok = skipValue(data, i, depth+1); !ok {
				return 0, false
			}
			if i, done, ok = next(data, i, ']'); !ok || done {
				return i, ok
			}
		}
	case c == 't':
		return skipLit(data, i, "true")
	case c == 'f':
		return skipLit(data, i, "false")
	case c == 'n':
		return skipLit(data, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		end, _, ok := scanNumber(data, i)
		return end, ok
	}
	return 0, false
}

func skipLit(data []byte, i int, lit string) (int, bool) {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// skipString returns the index after the closing quote of the string that
// starts at data[i].
func skipString(data []byte, i int) (int, bool) {
	i++
	for i < len(data) {
		switch c := data[i]; {
		case c == '"':
			return i + 1, true
		case c == '\\':
			i += 2
		case c < 0x20:
			return 0, false
		default:
			i++
		}
	}
	return 0, false
}

// scanNumber scans a JSON number starting at data[i] and reports its end and
// whether it is an integer literal (no fraction, no exponent).
func scanNumber(data []byte, i int) (end int, isInt bool, ok bool) {
	isInt = true
	if i < len(data) && data[i] == '-' {
		i++
	}
	if i >= len(data) {
		return 0, false, false
	}
	if data[i] == '0' {
		i++
	} else if i, ok = skipDigits(data, i); !ok {
		return 0, false, false
	}
	if i < len(data) && data[i] == '.' {
		isInt = false
		if i, ok = skipDigits(data, i+1); !ok {
			return 0, false, false
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		isInt = false
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i, ok = skipDigits(data, i); !ok {
			return 0, false, false
		}
	}
	return i, isInt, true
}

// skipDigits returns the index after the one or more decimal digits that
// start at data[i].
func skipDigits(data []byte, i int) (int, bool) {
	start := i
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		i++
	}
	return i, i > start
}
