package canonicaljson

import (
	"errors"
	"testing"
)

// TestCanonicalizeLegacyNumbers checks numbers in events of room versions
// 1–5 against what Synapse's canonical JSON (Python 3's json module,
// allow_nan=False) writes. The wanted outputs were produced with
// json.dumps(json.loads(in), allow_nan=False) on CPython 3.
func TestCanonicalizeLegacyNumbers(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		// Integers keep their digits whatever their size (Python int).
		{"12345678901234567890", "12345678901234567890"},
		{"-12345678901234567890123", "-12345678901234567890123"},
		{"9007199254740992", "9007199254740992"},
		{"-0", "0"},
		// Floats: repr(float).
		{"1.0", "1.0"},
		{"1.5", "1.5"},
		{"-1.5", "-1.5"},
		{"1e10", "10000000000.0"},
		{"1E10", "10000000000.0"},
		{"1e15", "1000000000000000.0"},
		{"1e16", "1e+16"},
		{"1.5e16", "1.5e+16"},
		{"1e-4", "0.0001"},
		{"1e-5", "1e-05"},
		{"0.0001", "0.0001"},
		{"0.00001", "1e-05"},
		{"123.456", "123.456"},
		{"-0.0", "-0.0"},
		{"0.0", "0.0"},
		{"0e0", "0.0"},
		{"1e308", "1e+308"},
		{"1.7976931348623157e308", "1.7976931348623157e+308"},
		{"5e-324", "5e-324"},
		{"1e-400", "0.0"},
		{"0.1", "0.1"},
		{"0.30000000000000004", "0.30000000000000004"},
		{"1e22", "1e+22"},
		{"1e21", "1e+21"},
		{"123456789012345678.0", "1.2345678901234568e+17"},
		{"9007199254740993.0", "9007199254740992.0"},
		{"2.5e-7", "2.5e-07"},
		{"100.00", "100.0"},
		{"1.23e+2", "123.0"},
		{"-1e-10", "-1e-10"},
		{"12345678901234567890e-5", "123456789012345.67"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := CanonicalizeLegacy([]byte(tc.in))
			if err != nil || string(got) != tc.want {
				t.Errorf("CanonicalizeLegacy(%s) = %s, %v, want %s", tc.in, got, err, tc.want)
			}
			// Python's output reads back to the same float: idempotent.
			again, err := CanonicalizeLegacy(got)
			if err != nil || string(again) != string(got) {
				t.Errorf("CanonicalizeLegacy(%s) = %s, %v, want it unchanged", got, again, err)
			}
		})
	}
}

func TestCanonicalizeLegacyRejects(t *testing.T) {
	tests := []struct {
		name, in string
		err      error
	}{
		{"overflow to Infinity (Python: not JSON compliant)", `1e400`, ErrNumberRange},
		{"negative overflow", `[-1e400]`, ErrNumberRange},
		{"leading zero still invalid", `[01.5]`, ErrSyntax},
		{"NaN still invalid", `NaN`, ErrSyntax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := CanonicalizeLegacy([]byte(tc.in)); !errors.Is(err, tc.err) {
				t.Errorf("CanonicalizeLegacy(%s) = %s, %v, want error %v", tc.in, got, err, tc.err)
			}
		})
	}
}

func TestCanonicalizeLegacyEvent(t *testing.T) {
	in := `{"type":"m.room.power_levels","content":{"users":{"@a:x":100.0,"@b:x":50},"ban":5e1},"depth":12345678901234567890}`
	want := `{"content":{"ban":50.0,"users":{"@a:x":100.0,"@b:x":50}},"depth":12345678901234567890,"type":"m.room.power_levels"}`
	got, err := CanonicalizeLegacy([]byte(in))
	if err != nil || string(got) != want {
		t.Errorf("CanonicalizeLegacy(%s) = %s, %v, want %s", in, got, err, want)
	}
	if _, err := Canonicalize([]byte(in)); !errors.Is(err, ErrNotInteger) {
		t.Errorf("Canonicalize(%s) error = %v, want ErrNotInteger", in, err)
	}
}
