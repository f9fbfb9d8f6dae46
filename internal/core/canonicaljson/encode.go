package canonicaljson

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Encode returns the canonical encoding of v under the strict rules.
//
// It encodes directly: nil, bool, string (must be valid UTF-8), all integer
// types (must lie within ±(2**53−1)), float32/float64 holding such an
// integer, json.Number and json.RawMessage (canonicalized), map[string]any,
// map[string]string, map[string]json.RawMessage, []any, []string and
// []json.RawMessage, recursively, as Decode returns them. Nil maps and slices
// encode as null, as encoding/json does. Any other value goes through
// encoding/json and is then canonicalized.
func Encode(v any) ([]byte, error) {
	e := encoder{}
	if err := e.encode(v, 0); err != nil {
		return nil, err
	}
	return e.out, nil
}

// EncodeLegacy is Encode under the legacy number rules of CanonicalizeLegacy:
// integers of any size, floats written as Python does; only NaN and ±Inf
// are refused. It is for rebuilding events of room versions 1–5.
//
// A float64 holding an integer within ±(2**53−1) is written as an integer,
// as encoding/json does: once JSON is decoded into float64 it is unknown
// whether the text was "100" or "100.0". To keep an event's numbers exactly
// as Synapse would write them, pass them as json.RawMessage or json.Number.
func EncodeLegacy(v any) ([]byte, error) {
	e := encoder{legacy: true}
	if err := e.encode(v, 0); err != nil {
		return nil, err
	}
	return e.out, nil
}

// Marshal is Encode. It exists so that call sites read like encoding/json.
func Marshal(v any) ([]byte, error) { return Encode(v) }

type encoder struct {
	out    []byte
	legacy bool
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("canonical json: %w: "+format, append([]any{ErrUnsupportedValue}, args...)...)
}

func (e *encoder) encode(v any, depth int) error {
	switch x := v.(type) {
	case nil:
		e.out = append(e.out, "null"...)
	case bool:
		e.out = strconv.AppendBool(e.out, x)
	case string:
		return e.str(x)
	case int:
		return e.int(int64(x))
	case int8:
		return e.int(int64(x))
	case int16:
		return e.int(int64(x))
	case int32:
		return e.int(int64(x))
	case int64:
		return e.int(x)
	case uint:
		return e.uint(uint64(x))
	case uint8:
		return e.uint(uint64(x))
	case uint16:
		return e.uint(uint64(x))
	case uint32:
		return e.uint(uint64(x))
	case uint64:
		return e.uint(x)
	case uintptr:
		return e.uint(uint64(x))
	case float32:
		return e.float(float64(x))
	case float64:
		return e.float(x)
	case json.Number:
		return e.raw([]byte(x), false)
	case json.RawMessage:
		if x == nil {
			e.out = append(e.out, "null"...)
			return nil
		}
		return e.raw(x, true)
	case map[string]any:
		return encodeMap(e, x, depth)
	case map[string]string:
		return encodeMap(e, x, depth)
	case map[string]json.RawMessage:
		return encodeMap(e, x, depth)
	case []any:
		return encodeSlice(e, x, depth)
	case []string:
		return encodeSlice(e, x, depth)
	case []json.RawMessage:
		return encodeSlice(e, x, depth)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("canonical json: %w", err)
		}
		return e.raw(b, true)
	}
	return nil
}

func (e *encoder) str(s string) error {
	if !utf8.ValidString(s) {
		return unsupported("string is not valid UTF-8")
	}
	e.out = appendCanonicalString(e.out, s)
	return nil
}

func (e *encoder) int(n int64) error {
	if !e.legacy && (n > maxSafeInteger || n < -maxSafeInteger) {
		return unsupported("integer %d out of range", n)
	}
	e.out = strconv.AppendInt(e.out, n, 10)
	return nil
}

func (e *encoder) uint(n uint64) error {
	if !e.legacy && n > maxSafeInteger {
		return unsupported("integer %d out of range", n)
	}
	e.out = strconv.AppendUint(e.out, n, 10)
	return nil
}

func (e *encoder) float(f float64) error {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return unsupported("%v", f)
	case f == math.Trunc(f) && math.Abs(f) <= maxSafeInteger:
		// An integral float encodes as the integer, as encoding/json does.
		e.out = strconv.AppendInt(e.out, int64(f), 10)
	case e.legacy:
		e.out = appendPythonFloat(e.out, f)
	default:
		return unsupported("non-integer number %v", f)
	}
	return nil
}

// raw appends the canonical encoding of the JSON text b. If anyValue is false, b
// must be a single number.
func (e *encoder) raw(b []byte, anyValue bool) error {
	if !anyValue {
		if p := skipSpace(b, 0); p >= len(b) || (b[p] != '-' && !isDigit(b[p])) {
			return syntaxErr(p, ErrSyntax)
		}
	}
	out, err := appendCanonical(e.out, b, e.legacy)
	if err != nil {
		return err
	}
	e.out = out
	return nil
}

func encodeMap[V any](e *encoder, m map[string]V, depth int) error {
	if m == nil {
		e.out = append(e.out, "null"...)
		return nil
	}
	if depth >= MaxDepth {
		return unsupported("%w", ErrTooDeep)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// Go compares strings bytewise, which for UTF-8 is code point order.
	slices.Sort(keys)
	e.out = append(e.out, '{')
	for i, k := range keys {
		if i > 0 {
			e.out = append(e.out, ',')
		}
		if err := e.str(k); err != nil {
			return err
		}
		e.out = append(e.out, ':')
		if err := e.encode(m[k], depth+1); err != nil {
			return err
		}
	}
	e.out = append(e.out, '}')
	return nil
}

func encodeSlice[V any](e *encoder, s []V, depth int) error {
	if s == nil {
		e.out = append(e.out, "null"...)
		return nil
	}
	if depth >= MaxDepth {
		return unsupported("%w", ErrTooDeep)
	}
	e.out = append(e.out, '[')
	for i, v := range s {
		if i > 0 {
			e.out = append(e.out, ',')
		}
		if err := e.encode(v, depth+1); err != nil {
			return err
		}
	}
	e.out = append(e.out, ']')
	return nil
}
