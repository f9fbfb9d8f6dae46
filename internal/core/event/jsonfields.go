package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unique"

	"github.com/hafenchat/hafen/internal/core/canonicaljson"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// object is a decoded JSON object whose members are kept as raw JSON.
// Decoding into a map (not a struct) keeps key matching exact: encoding/json
// matches struct fields case-insensitively, and "Sender" is not "sender".
type object map[string]json.RawMessage

// canonicalize returns the canonical form of data under the number rules
// of v: strict for rooms v6+, legacy (floats and big integers kept) before.
func canonicalize(data []byte, v *roomversion.Version) ([]byte, error) {
	if v.StrictCanonicalJSON {
		return canonicaljson.Canonicalize(data)
	}
	return canonicaljson.CanonicalizeLegacy(data)
}

// encode returns the canonical encoding of a value under the number rules
// of v.
func encode(val any, v *roomversion.Version) ([]byte, error) {
	if v.StrictCanonicalJSON {
		return canonicaljson.Encode(val)
	}
	return canonicaljson.EncodeLegacy(val)
}

// shared returns s from the process-wide table of strings that many
// events repeat: room IDs, senders, types, state keys and auth event IDs.
// The events in memory (sync's ring, caches of state) then hold one copy of
// each instead of one per event. The table holds its strings weakly: one no
// event refers to any more is dropped by the garbage collector.
func shared(s string) string { return unique.Make(s).Value() }

// within returns the bytes of part, a value decoded from canon, as a slice
// of canon itself, so that a parsed event keeps no second copy of them.
// Equal bytes are the same JSON value wherever they occur; the capacity is
// cut so that an append to the result copies instead of overwriting canon.
// part itself is returned if canon does not hold it.
func within(canon []byte, part json.RawMessage) json.RawMessage {
	i := bytes.Index(canon, part)
	if i < 0 {
		return part
	}
	return canon[i : i+len(part) : i+len(part)]
}

// decodeObject splits canonical JSON text into its top-level members. The
// input must already have passed canonicaljson, so it holds no duplicate
// keys, invalid UTF-8 or insignificant whitespace.
func decodeObject(canon []byte) (object, error) {
	if len(canon) == 0 || canon[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrFormat)
	}
	var o object
	if err := json.Unmarshal(canon, &o); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return o, nil
}

// jsonKind returns the kind of a canonical JSON value from its first byte:
// '"' string, '{' object, '[' array, '0' number, 't' boolean, 'n' null.
func jsonKind(raw json.RawMessage) byte {
	if len(raw) == 0 {
		return 0
	}
	switch c := raw[0]; {
	case c == '-' || c >= '0' && c <= '9':
		return '0'
	case c == 'f':
		return 't'
	default:
		return c
	}
}

// str reads the string member key. It reports whether the member exists and
// fails if it exists with another type.
func (o object) str(key string) (string, bool, error) {
	raw, ok := o[key]
	if !ok {
		return "", false, nil
	}
	if jsonKind(raw) != '"' {
		return "", true, fmt.Errorf("%w: %s is not a string", ErrFormat, key)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", true, fmt.Errorf("%w: %s: %w", ErrFormat, key, err)
	}
	return s, true, nil
}

// integer reads the integer member key. A number with a fraction or an
// exponent, or one outside the int64 range, is an error.
func (o object) integer(key string) (int64, bool, error) {
	raw, ok := o[key]
	if !ok {
		return 0, false, nil
	}
	if jsonKind(raw) != '0' {
		return 0, true, fmt.Errorf("%w: %s is not a number", ErrFormat, key)
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, true, fmt.Errorf("%w: %s is not a 64-bit integer", ErrFormat, key)
	}
	return n, true, nil
}

// isObject reports whether the member key exists and is a JSON object.
func (o object) isObject(key string) bool {
	return jsonKind(o[key]) == '{'
}

// stringIn reads the string member key of the JSON object raw. It returns
// false if raw is not an object or the member is missing or not a string.
func stringIn(raw json.RawMessage, key string) (string, bool) {
	if jsonKind(raw) != '{' {
		return "", false
	}
	var o object
	if json.Unmarshal(raw, &o) != nil {
		return "", false
	}
	s, ok, err := o.str(key)
	return s, ok && err == nil
}
