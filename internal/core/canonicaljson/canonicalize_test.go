package canonicaljson

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// appendixExamples are the canonical JSON examples of the appendix, input and
// expected output transcribed by hand.
//
// Spec: https://spec.matrix.org/v1.19/appendices/#examples
var appendixExamples = []struct {
	name, in, want string
}{
	{"appendix example 1: empty object", "{}", `{}`},
	{"appendix example 2: whitespace removed", "{\n    \"one\": 1,\n    \"two\": \"Two\"\n}", `{"one":1,"two":"Two"}`},
	{"appendix example 3: keys sorted", "{\n    \"b\": \"2\",\n    \"a\": \"1\"\n}", `{"a":"1","b":"2"}`},
	{"appendix example 4: compact keys sorted", `{"b":"2","a":"1"}`, `{"a":"1","b":"2"}`},
	{
		"appendix example 5: nested objects and arrays",
		`{
    "auth": {
        "success": true,
        "mxid": "@john.doe:example.com",
        "profile": {
            "display_name": "John Doe",
            "three_pids": [
                {
                    "medium": "email",
                    "address": "john.doe@example.org"
                },
                {
                    "medium": "msisdn",
                    "address": "123456789"
                }
            ]
        }
    }
}`,
		`{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}`,
	},
	{"appendix example 6: non-ASCII kept as UTF-8", "{\n    \"a\": \"日本語\"\n}", `{"a":"日本語"}`},
	{"appendix example 7: keys sorted by code point", "{\n    \"本\": 2,\n    \"日\": 1\n}", `{"日":1,"本":2}`},
	{"appendix example 8: \\u escape decoded", "{\n    \"a\": \"\\u65E5\"\n}", `{"a":"日"}`},
	{"appendix example 9: null", "{\n    \"a\": null\n}", `{"a":null}`},
	// Example 10 ({"a": -0, "b": 1e10} → {"a":0,"b":10000000000}) is in
	// TestAppendixExampleNumbers: strict mode rejects the exponent.
}

func TestCanonicalizeAppendixExamples(t *testing.T) {
	for _, tc := range appendixExamples {
		t.Run(tc.name, func(t *testing.T) {
			for _, f := range []struct {
				name string
				fn   func([]byte) ([]byte, error)
			}{{"Canonicalize", Canonicalize}, {"CanonicalizeLegacy", CanonicalizeLegacy}} {
				in := []byte(tc.in)
				got, err := f.fn(in)
				if err != nil || string(got) != tc.want {
					t.Errorf("%s(%s) = %s, %v, want %s", f.name, tc.in, got, err, tc.want)
				}
				if string(in) != tc.in {
					t.Errorf("%s modified its input", f.name)
				}
			}
		})
	}
}

// TestAppendixExampleNumbers covers the appendix's last example,
// {"a": -0, "b": 1e10} → {"a":0,"b":10000000000}, which Hafen splits:
// -0 is accepted as 0 everywhere, and 1e10 is rejected in strict mode (as
// Synapse and the v6 strictness rule do) and written as Python writes the
// float in legacy mode.
func TestAppendixExampleNumbers(t *testing.T) {
	in := "{\n    \"a\": -0,\n    \"b\": 1e10\n}"
	if got, err := Canonicalize([]byte(in)); !errors.Is(err, ErrNotInteger) {
		t.Errorf("Canonicalize(%s) = %s, %v, want ErrNotInteger (NOTSPEC: exponent rejected)", in, got, err)
	}
	if got, err := CanonicalizeLegacy([]byte(in)); err != nil || string(got) != `{"a":0,"b":10000000000.0}` {
		t.Errorf("CanonicalizeLegacy(%s) = %s, %v, want {\"a\":0,\"b\":10000000000.0} (Synapse's form)", in, got, err)
	}
	if got, err := Canonicalize([]byte(`{"a": -0}`)); err != nil || string(got) != `{"a":0}` {
		t.Errorf(`Canonicalize({"a": -0}) = %s, %v, want {"a":0}`, got, err)
	}
}

func TestCanonicalizeStrings(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"grammar: \\b \\t \\n \\f \\r keep short escapes", `"\b\t\n\f\r"`, `"\b\t\n\f\r"`},
		{"grammar: \\\" and \\\\ escaped", `"\"\\"`, `"\"\\"`},
		{"grammar: \\/ is a redundant escape", `"\/"`, `"/"`},
		{"grammar: u000X for X in 0-7 b e f", `"\u0000\u0001\u0007\u000B\u000e\u000F"`, `"\u0000\u0001\u0007\u000b\u000e\u000f"`},
		{"grammar: u001X lowercase hex", `"\u0010\u001A\u001f"`, `"\u0010\u001a\u001f"`},
		{"grammar: \\u0008 etc. use short forms", `"\u0008\u0009\u000a\u000c\u000d"`, `"\b\t\n\f\r"`},
		{"grammar: printable ASCII escaped with \\u is unescaped", `"\u0041\u0020\u0021"`, `"A !"`},
		{"grammar: DEL is unescaped (only < 0x20 escaped)", `"\u007f"`, "\"\x7f\""},
		{"grammar: < > & raw (encoding/json would escape)", `"\u003c\u003e\u0026<>&"`, `"<>&<>&"`},
		{"grammar: U+2028 U+2029 raw", `"\u2028\u2029"`, "\"\u2028\u2029\""},
		{"grammar: non-ASCII raw", `"\u00e9\u65e5"`, `"é日"`},
		{"surrogate pair decoded to UTF-8", `"\ud83d\ude00"`, `"😀"`},
		{"surrogate pair in upper case hex", `"\uD83D\uDE00"`, `"😀"`},
		{"raw UTF-8 four-byte", `"😀"`, `"😀"`},
		{"escaped quote in key", `{"\"":1}`, `{"\"":1}`},
		{"empty string", `""`, `""`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Canonicalize([]byte(tc.in))
			if err != nil || string(got) != tc.want {
				t.Errorf("Canonicalize(%s) = %s, %v, want %s", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestCanonicalizeOrder(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"code point order, not UTF-16 order: U+FB01 before U+1F600", `{"😀":1,"ﬁ":2}`, `{"ﬁ":2,"😀":1}`},
		{"sorted by unescaped key: \\n < space < quote < A < backslash", `{"\\":5,"A":4,"\"":3," ":2,"\n":1}`, `{"\n":1," ":2,"\"":3,"A":4,"\\":5}`},
		{"prefix sorts first", `{"ab":1,"a":2,"":3}`, `{"":3,"a":2,"ab":1}`},
		{"nested objects sorted independently", `{"b":{"d":1,"c":2},"a":[{"f":1,"e":2}]}`, `{"a":[{"e":2,"f":1}],"b":{"c":2,"d":1}}`},
		{"escaped key equal to raw key sorts by value", `{"\u0062":1,"a":2}`, `{"a":2,"b":1}`},
		{"array order kept", `[3,1,2]`, `[3,1,2]`},
		{"uppercase before lowercase", `{"a":1,"B":2}`, `{"B":2,"a":1}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Canonicalize([]byte(tc.in))
			if err != nil || string(got) != tc.want {
				t.Errorf("Canonicalize(%s) = %s, %v, want %s", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestCanonicalizeNumbers(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            error
	}{
		{"appendix: integer", `1`, `1`, nil},
		{"appendix: zero", `0`, `0`, nil},
		{"appendix: -0 written as 0 (NOTSPEC: accepted)", `-0`, `0`, nil},
		{"appendix: 2**53-1 is the largest", `9007199254740991`, `9007199254740991`, nil},
		{"appendix: -(2**53)+1 is the smallest", `-9007199254740991`, `-9007199254740991`, nil},
		{"appendix: 2**53 out of range", `9007199254740992`, ``, ErrIntegerRange},
		{"appendix: -(2**53) out of range", `-9007199254740992`, ``, ErrIntegerRange},
		{"appendix: 20 digits out of range", `12345678901234567890`, ``, ErrIntegerRange},
		{"appendix: fraction rejected", `1.5`, ``, ErrNotInteger},
		{"appendix: integral fraction rejected", `1.0`, ``, ErrNotInteger},
		{"appendix: exponent rejected", `1e2`, ``, ErrNotInteger},
		{"appendix: capital exponent rejected", `1E2`, ``, ErrNotInteger},
		{"appendix: -0.0 rejected", `-0.0`, ``, ErrNotInteger},
		{"RFC 8259: leading zero", `[01]`, ``, ErrSyntax},
		{"RFC 8259: leading plus", `+1`, ``, ErrSyntax},
		{"RFC 8259: bare minus", `-`, ``, ErrSyntax},
		{"RFC 8259: minus space digit", `- 1`, ``, ErrSyntax},
		{"RFC 8259: dot without digits", `1.`, ``, ErrSyntax},
		{"RFC 8259: leading dot", `.5`, ``, ErrSyntax},
		{"RFC 8259: empty exponent", `1e`, ``, ErrSyntax},
		{"RFC 8259: hex", `0x10`, ``, ErrTrailingData},
		{"RFC 8259: NaN", `NaN`, ``, ErrSyntax},
		{"RFC 8259: Infinity", `-Infinity`, ``, ErrSyntax},
		{"negative integer", `[-5,-10]`, `[-5,-10]`, nil},
		{"integer in object", `{"a":123}`, `{"a":123}`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Canonicalize([]byte(tc.in))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Errorf("Canonicalize(%s) = %s, %v, want error %v", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Errorf("Canonicalize(%s) = %s, %v, want %s", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestCanonicalizeRejects(t *testing.T) {
	deep := func(n int, open, close string) string {
		return strings.Repeat(open, n) + strings.Repeat(close, n)
	}
	tests := []struct {
		name string
		in   string
		err  error
	}{
		{"empty input", ``, ErrSyntax},
		{"only whitespace", " \n\t", ErrSyntax},
		{"duplicate key", `{"a":1,"a":2}`, ErrDuplicateKey},
		{"duplicate key, one escaped", `{"a":1,"\u0061":2}`, ErrDuplicateKey},
		{"duplicate key, not adjacent", `{"b":1,"a":2,"b":3}`, ErrDuplicateKey},
		{"duplicate key, not adjacent, sorted", `{"a":1,"b":2,"a":3}`, ErrDuplicateKey},
		{"duplicate key, nested", `{"x":{"k":1,"k":1}}`, ErrDuplicateKey},
		{"duplicate empty key", `{"":1,"":2}`, ErrDuplicateKey},
		{"invalid UTF-8: lone continuation byte", "\"\x80\"", ErrInvalidUTF8},
		{"invalid UTF-8: 0xff", "\"\xff\"", ErrInvalidUTF8},
		{"invalid UTF-8: overlong slash", "\"\xc0\xaf\"", ErrInvalidUTF8},
		{"invalid UTF-8: encoded surrogate (CESU-8)", "\"\xed\xa0\x80\"", ErrInvalidUTF8},
		{"invalid UTF-8: truncated sequence", "\"\xe6\x97\"", ErrInvalidUTF8},
		{"invalid UTF-8: above U+10FFFF", "\"\xf4\x90\x80\x80\"", ErrInvalidUTF8},
		{"invalid UTF-8 in key", "{\"\xff\":1}", ErrInvalidUTF8},
		{"lone high surrogate", `"\ud800"`, ErrLoneSurrogate},
		{"lone low surrogate", `"\udc00"`, ErrLoneSurrogate},
		{"high surrogate then letter", `"\ud800A"`, ErrLoneSurrogate},
		{"high surrogate then non-surrogate escape", `"\ud800\u0041"`, ErrLoneSurrogate},
		{"two high surrogates", `"\ud800\ud800"`, ErrLoneSurrogate},
		{"reversed pair", `"\ude00\ud83d"`, ErrLoneSurrogate},
		{"raw control character in string", "\"a\tb\"", ErrSyntax},
		{"raw NUL in string", "\"\x00\"", ErrSyntax},
		{"unknown escape", `"\x41"`, ErrSyntax},
		{"short \\u escape", `"\u12"`, ErrSyntax},
		{"non-hex \\u escape", `"\u12g4"`, ErrSyntax},
		{"unterminated string", `"abc`, ErrSyntax},
		{"backslash at end", `"abc\`, ErrSyntax},
		{"trailing data after object", `{} {}`, ErrTrailingData},
		{"trailing data after number", `1 2`, ErrTrailingData},
		{"trailing garbage", `{"a":1}x`, ErrTrailingData},
		{"trailing comma in array", `[1,]`, ErrSyntax},
		{"trailing comma in object", `{"a":1,}`, ErrSyntax},
		{"missing colon", `{"a" 1}`, ErrSyntax},
		{"non-string key", `{1:1}`, ErrSyntax},
		{"single quotes", `{'a':1}`, ErrSyntax},
		{"unclosed object", `{"a":1`, ErrSyntax},
		{"unclosed array", `[1`, ErrSyntax},
		{"literal misspelt", `tru`, ErrSyntax},
		{"literal capitalised", `True`, ErrSyntax},
		{"comment", `{/**/}`, ErrSyntax},
		{"vertical tab is not JSON whitespace", "\v{}", ErrSyntax},
		{"NBSP is not JSON whitespace", "\u00a0{}", ErrSyntax},
		{"BOM", "\ufeff{}", ErrSyntax},
		{"arrays deeper than MaxDepth", deep(MaxDepth+1, "[", "]"), ErrTooDeep},
		{"objects deeper than MaxDepth", strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1), ErrTooDeep},
		{"hostile depth", deep(1_000_000, "[", "]"), ErrTooDeep},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, f := range []struct {
				name string
				fn   func([]byte) ([]byte, error)
			}{{"Canonicalize", Canonicalize}, {"CanonicalizeLegacy", CanonicalizeLegacy}} {
				got, err := f.fn([]byte(tc.in))
				if !errors.Is(err, tc.err) {
					t.Errorf("%s(%.60q) = %s, %v, want error %v", f.name, tc.in, got, err, tc.err)
				}
				var se *SyntaxError
				if err != nil && !errors.As(err, &se) {
					t.Errorf("%s(%.60q) error %v is not a *SyntaxError", f.name, tc.in, err)
				}
			}
			if v, err := Decode([]byte(tc.in)); !errors.Is(err, tc.err) {
				t.Errorf("Decode(%.60q) = %v, %v, want error %v", tc.in, v, err, tc.err)
			}
		})
	}
}

func TestCanonicalizeAccepts(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"MaxDepth arrays", strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth), strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)},
		{"surrounding whitespace", " \t\r\n{ \"a\" : [ 1 , true , false , null ] }\n", `{"a":[1,true,false,null]}`},
		{"top-level string", `"x"`, `"x"`},
		{"top-level literal", ` null `, `null`},
		{"empty array and object", `[[],{}]`, `[[],{}]`},
		{"NUL escape allowed", `"\u0000"`, `"\u0000"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Canonicalize([]byte(tc.in))
			if err != nil || string(got) != tc.want {
				t.Errorf("Canonicalize(%.60q) = %.60s, %v, want %.60s", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestCanonicalizeWithout(t *testing.T) {
	tests := []struct {
		name string
		in   string
		omit []string
		want string
		err  error
	}{
		{"signing details: signatures and unsigned left out", `{"b":1,"signatures":{"x":{}},"unsigned":{"age_ts":1},"a":2}`, []string{"signatures", "unsigned"}, `{"a":2,"b":1}`, nil},
		{"sorted input", `{"a":2,"b":1,"signatures":{},"unsigned":{}}`, []string{"signatures", "unsigned"}, `{"a":2,"b":1}`, nil},
		{"omitted first", `{"a":1,"b":2}`, []string{"a"}, `{"b":2}`, nil},
		{"omitted last", `{"a":1,"b":2}`, []string{"b"}, `{"a":1}`, nil},
		{"all omitted", `{"a":1}`, []string{"a"}, `{}`, nil},
		{"nothing to omit", `{"b":1,"a":2}`, nil, `{"a":2,"b":1}`, nil},
		{"escaped key matches", `{"\u0061":1,"b":2}`, []string{"a"}, `{"b":2}`, nil},
		{"only the top level", `{"a":{"a":1}}`, []string{"b", "x"}, `{"a":{"a":1}}`, nil},
		{"nested key not omitted", `{"x":{"signatures":1}}`, []string{"signatures"}, `{"x":{"signatures":1}}`, nil},
		{"omitted member still checked", `{"a":1,"signatures":{"k":1,"k":2}}`, []string{"signatures"}, ``, ErrDuplicateKey},
		{"omitted member still strict", `{"a":1,"unsigned":1.5}`, []string{"unsigned"}, ``, ErrNotInteger},
		{"omitted key duplicated", `{"unsigned":1,"unsigned":2}`, []string{"unsigned"}, ``, ErrDuplicateKey},
		{"not an object", `[1]`, []string{"a"}, ``, ErrNotObject},
		{"not an object: string", ` "a"`, nil, ``, ErrNotObject},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CanonicalizeWithout([]byte(tc.in), tc.omit...)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Errorf("CanonicalizeWithout(%s, %q) = %s, %v, want error %v", tc.in, tc.omit, got, err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Errorf("CanonicalizeWithout(%s, %q) = %s, %v, want %s", tc.in, tc.omit, got, err, tc.want)
			}
		})
	}
	got, err := CanonicalizeLegacyWithout([]byte(`{"b":1.5,"unsigned":2e400}`), "unsigned")
	if !errors.Is(err, ErrNumberRange) {
		t.Errorf("CanonicalizeLegacyWithout with overflowing omitted member = %s, %v, want ErrNumberRange", got, err)
	}
	got, err = CanonicalizeLegacyWithout([]byte(`{"b":1.50,"unsigned":2}`), "unsigned")
	if err != nil || string(got) != `{"b":1.5}` {
		t.Errorf(`CanonicalizeLegacyWithout({"b":1.50,"unsigned":2}) = %s, %v, want {"b":1.5}`, got, err)
	}
}

// TestCanonicalizeReusesNoState runs inputs that grow and shrink the pooled
// buffers in turn, checking that nothing leaks from one call to the next.
func TestCanonicalizeReusesNoState(t *testing.T) {
	big := `{"z":{"y":1,"x":2},` + strings.Repeat(`"k`, 1) + `":[{"b":1,"a":2}],"\n":3,"a":4}`
	want, err := Canonicalize([]byte(big))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if _, err := Canonicalize([]byte(`{"b":1,"a":{"d":1,"c":2,"c":3}}`)); !errors.Is(err, ErrDuplicateKey) {
			t.Fatalf("duplicate not detected on round %d: %v", i, err)
		}
		got, err := Canonicalize([]byte(big))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("round %d: Canonicalize = %s, %v, want %s", i, got, err, want)
		}
	}
}
