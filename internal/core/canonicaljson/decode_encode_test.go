package canonicaljson

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want any
	}{
		{"object", `{"a":1,"b":[true,false,null,"x"],"c":{}}`, map[string]any{
			"a": int64(1), "b": []any{true, false, nil, "x"}, "c": map[string]any{},
		}},
		{"empty array is non-nil", `[]`, []any{}},
		{"integers are int64", `[9007199254740991,-9007199254740991,-0]`, []any{int64(maxSafeInteger), int64(-maxSafeInteger), int64(0)}},
		{"escapes decoded raw", `"\n\"\u00e9\ud83d\ude00\/"`, "\n\"é😀/"},
		{"escaped keys decoded", `{"\u0061":1}`, map[string]any{"a": int64(1)}},
		{"NUL kept", `"\u0000"`, "\x00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode([]byte(tc.in))
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Decode(%s) = %#v, %v, want %#v", tc.in, got, err, tc.want)
			}
		})
	}
	for _, in := range []string{`1.5`, `1e2`, `9007199254740992`} {
		if got, err := Decode([]byte(in)); err == nil {
			t.Errorf("Decode(%s) = %#v, want an error", in, got)
		}
	}
}

type encodeStruct struct {
	B    string `json:"b"`
	A    int    `json:"a"`
	HTML string `json:"html"`
	Skip string `json:"-"`
}

func TestEncode(t *testing.T) {
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	tests := []struct {
		name string
		in   any
		want string
		err  error
	}{
		{"nil", nil, `null`, nil},
		{"bool", true, `true`, nil},
		{"string escaped canonically", "a\"\\\n\x01<>&\u2028é", `"a\"\\\n\u0001<>&` + "\u2028" + `é"`, nil},
		{"int", 42, `42`, nil},
		{"int8", int8(-8), `-8`, nil},
		{"int16", int16(16), `16`, nil},
		{"int32", int32(-32), `-32`, nil},
		{"int64 max safe", int64(maxSafeInteger), `9007199254740991`, nil},
		{"int64 too big", int64(maxSafeInteger + 1), ``, ErrUnsupportedValue},
		{"int64 too small", int64(-maxSafeInteger - 1), ``, ErrUnsupportedValue},
		{"uint", uint(7), `7`, nil},
		{"uint8", uint8(8), `8`, nil},
		{"uint16", uint16(16), `16`, nil},
		{"uint32", uint32(32), `32`, nil},
		{"uint64 too big", uint64(math.MaxUint64), ``, ErrUnsupportedValue},
		{"float64 integral", 3.0, `3`, nil},
		{"float64 negative zero", math.Copysign(0, -1), `0`, nil},
		{"float32 integral", float32(2), `2`, nil},
		{"float64 fraction", 1.5, ``, ErrUnsupportedValue},
		{"float64 NaN", math.NaN(), ``, ErrUnsupportedValue},
		{"float64 Inf", math.Inf(1), ``, ErrUnsupportedValue},
		{"float64 integral but too big", 1e17, ``, ErrUnsupportedValue},
		{"json.Number", json.Number("12"), `12`, nil},
		{"json.Number fraction", json.Number("1.5"), ``, ErrNotInteger},
		{"json.Number not a number", json.Number(`"x"`), ``, ErrSyntax},
		{"json.RawMessage canonicalized", json.RawMessage(` {"b": 1, "a": "\u0041"} `), `{"a":"A","b":1}`, nil},
		{"json.RawMessage invalid", json.RawMessage(`{"a":1,"a":2}`), ``, ErrDuplicateKey},
		{"nil json.RawMessage", json.RawMessage(nil), `null`, nil},
		{"map[string]any sorted", map[string]any{"b": 1, "a": []any{"x", int64(2)}, "😀": nil, "ﬁ": false}, `{"a":["x",2],"b":1,"ﬁ":false,"😀":null}`, nil},
		{"map[string]string", map[string]string{"z": "1", "y": "2"}, `{"y":"2","z":"1"}`, nil},
		{"map[string]json.RawMessage", map[string]json.RawMessage{"b": json.RawMessage(`[ 1 ]`), "a": json.RawMessage(`{}`)}, `{"a":{},"b":[1]}`, nil},
		{"[]string", []string{"b", "a"}, `["b","a"]`, nil},
		{"[]json.RawMessage", []json.RawMessage{json.RawMessage(` 1`), json.RawMessage(`"x"`)}, `[1,"x"]`, nil},
		{"nil map is null", map[string]any(nil), `null`, nil},
		{"nil slice is null", []string(nil), `null`, nil},
		{"struct through encoding/json, <>& unescaped", encodeStruct{B: "b", A: 1, HTML: "<a>&", Skip: "x"}, `{"a":1,"b":"b","html":"<a>&"}`, nil},
		{"pointer through encoding/json", &encodeStruct{}, `{"a":0,"b":"","html":""}`, nil},
		{"[]int through encoding/json", []int{3, 1}, `[3,1]`, nil},
		{"invalid UTF-8 string", "\xff", ``, ErrUnsupportedValue},
		{"invalid UTF-8 key", map[string]any{"\xff": 1}, ``, ErrUnsupportedValue},
		{"cycle", cyclic, ``, ErrTooDeep},
		{"encoding/json failure", map[string]any{"c": make(chan int)}, ``, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Encode(tc.in)
			if tc.want == "" {
				if err == nil || (tc.err != nil && !errors.Is(err, tc.err)) {
					t.Errorf("Encode(%#v) = %s, %v, want error %v", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Errorf("Encode(%#v) = %s, %v, want %s", tc.in, got, err, tc.want)
			}
			if m, err := Marshal(tc.in); err != nil || string(m) != string(got) {
				t.Errorf("Marshal(%#v) = %s, %v, want %s", tc.in, m, err, got)
			}
		})
	}
}

func TestEncodeLegacy(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"float written as Python", map[string]any{"a": 1.5, "b": 1e16}, `{"a":1.5,"b":1e+16}`},
		{"integral float as integer", 100.0, `100`},
		{"large int64 kept", int64(math.MaxInt64), `9223372036854775807`},
		{"large uint64 kept", uint64(math.MaxUint64), `18446744073709551615`},
		{"raw message with float", json.RawMessage(`{"x":1e10}`), `{"x":10000000000.0}`},
		{"json.Number float", json.Number("2.50"), `2.5`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := EncodeLegacy(tc.in)
			if err != nil || string(got) != tc.want {
				t.Errorf("EncodeLegacy(%#v) = %s, %v, want %s", tc.in, got, err, tc.want)
			}
		})
	}
	if got, err := EncodeLegacy(math.Inf(-1)); !errors.Is(err, ErrUnsupportedValue) {
		t.Errorf("EncodeLegacy(-Inf) = %s, %v, want ErrUnsupportedValue", got, err)
	}
}

func TestDecodeEncodeRoundTrip(t *testing.T) {
	for _, tc := range appendixExamples {
		v, err := Decode([]byte(tc.in))
		if err != nil {
			t.Fatalf("Decode(%s) = %v", tc.in, err)
		}
		got, err := Encode(v)
		if err != nil || string(got) != tc.want {
			t.Errorf("Encode(Decode(%s)) = %s, %v, want %s", tc.name, got, err, tc.want)
		}
	}
}
