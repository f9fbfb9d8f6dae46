package canonicaljson

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func addSeeds(f *testing.F) {
	for _, tc := range appendixExamples {
		f.Add([]byte(tc.in))
	}
	for _, s := range []string{
		`{"a": -0, "b": 1e10}`, `{"😀":1,"ﬁ":2}`, `{"\\":5,"A":4,"\"":3," ":2,"\n":1}`,
		`"\ud83d\ude00\u0000\u001f\/"`, `{"a":1,"a":2}`, `[9007199254740991,-9007199254740992]`,
		`[1.5e300,-0.0,1e-400]`, "\"\xed\xa0\x80\"", `"\ud800"`, `{"a":[{"c":1,"b":2}],"\u0061b":3}`,
		`[[[[[]]]]]`, `{} `, `1 2`, `[01]`,
	} {
		f.Add([]byte(s))
	}
}

// strictRule reports whether err is one of the rules by which this package
// is stricter than RFC 8259 (and encoding/json).
func strictRule(err error) bool {
	for _, e := range []error{ErrDuplicateKey, ErrInvalidUTF8, ErrLoneSurrogate, ErrNotInteger, ErrIntegerRange, ErrNumberRange, ErrTooDeep} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// FuzzCanonicalize checks that Canonicalize and CanonicalizeLegacy agree
// with encoding/json on what is JSON (except for the strict rules), that
// their output is valid JSON denoting the same value, and that they are
// idempotent.
func FuzzCanonicalize(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		orig := bytes.Clone(data)
		valid := json.Valid(data)
		out, err := Canonicalize(data)
		legacy, lerr := CanonicalizeLegacy(data)
		if !bytes.Equal(data, orig) {
			t.Fatalf("input modified")
		}
		for _, e := range []error{err, lerr} {
			if e == nil && !valid {
				t.Fatalf("accepted %q, which encoding/json rejects", data)
			}
			if e != nil && valid && !strictRule(e) {
				t.Fatalf("rejected %q, valid per encoding/json, with %v", data, e)
			}
		}
		if err == nil {
			if lerr != nil || !bytes.Equal(out, legacy) {
				t.Fatalf("strict %q = %s but legacy = %s, %v", data, out, legacy, lerr)
			}
			checkCanonical(t, Canonicalize, data, out)
		}
		if lerr == nil {
			checkCanonical(t, CanonicalizeLegacy, data, legacy)
		}
	})
}

func checkCanonical(t *testing.T, canon func([]byte) ([]byte, error), in, out []byte) {
	t.Helper()
	if !json.Valid(out) {
		t.Fatalf("output %q of %q is not valid JSON", out, in)
	}
	again, err := canon(out)
	if err != nil || !bytes.Equal(again, out) {
		t.Fatalf("not idempotent: %q -> %q -> %q, %v", in, out, again, err)
	}
	vin, vout := jsonValue(t, in), jsonValue(t, out)
	if !reflect.DeepEqual(vin, vout) {
		t.Fatalf("value changed: %q (%#v) -> %q (%#v)", in, vin, out, vout)
	}
}

// jsonValue decodes data with encoding/json and replaces numbers by what
// they denote here: integers (no fraction or exponent) by their exact
// decimal value, other numbers by the nearest float64.
func jsonValue(t *testing.T, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("encoding/json cannot read %q: %v", data, err)
	}
	var norm func(any) any
	norm = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = norm(e)
			}
		case []any:
			for i, e := range x {
				x[i] = norm(e)
			}
		case json.Number:
			if strings.ContainsAny(string(x), ".eE") {
				f, err := strconv.ParseFloat(string(x), 64)
				if err != nil {
					t.Fatalf("number %s: %v", x, err)
				}
				return f
			}
			n, ok := new(big.Int).SetString(string(x), 10)
			if !ok {
				t.Fatalf("integer %s does not parse", x)
			}
			return n.String()
		}
		return v
	}
	return norm(v)
}

// FuzzDecodeEncode checks that Decode accepts exactly what Canonicalize
// accepts and that Encode of the decoded value is the canonical encoding.
func FuzzDecodeEncode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Decode(data)
		canon, cerr := Canonicalize(data)
		if (err == nil) != (cerr == nil) {
			t.Fatalf("Decode(%q) error %v but Canonicalize error %v", data, err, cerr)
		}
		if err != nil {
			// Both reject; on input with several faults they may report
			// different ones (Decode sees duplicate keys earlier).
			return
		}
		enc, err := Encode(v)
		if err != nil {
			t.Fatalf("Encode(Decode(%q)) error %v", data, err)
		}
		if !bytes.Equal(enc, canon) {
			t.Fatalf("Encode(Decode(%q)) = %q, Canonicalize = %q", data, enc, canon)
		}
		v2, err := Decode(enc)
		if err != nil || !reflect.DeepEqual(v, v2) {
			t.Fatalf("Decode(Encode(v)) = %#v, %v, want %#v", v2, err, v)
		}
	})
}
