package authrules

import (
	"math"
	"testing"

	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// Power level values, as rooms v1 ("m.room.power_levels events accept
// values as strings", "... as floats"), v6 and v10 ("values in
// m.room.power_levels events must be integers") read them.
func TestParseLevel(t *testing.T) {
	tests := []struct {
		name string
		v    *roomversion.Version
		raw  string
		want int64
		ok   bool
	}{
		{"integer (all versions)", roomversion.V10, `50`, 50, true},
		{"negative integer", roomversion.V10, `-5`, -5, true},
		{"v10+: strings are not power levels", roomversion.V10, `"50"`, 0, false},
		{"v1-v9: strings hold integers", roomversion.V9, `"50"`, 50, true},
		{"v1-v9: string with whitespace, sign and leading zeros", roomversion.V9, `" +0050 "`, 50, true},
		{"v1-v9: negative string", roomversion.V9, `"-7"`, -7, true},
		{"v1-v9: string with a decimal point is not an integer", roomversion.V9, `"5.0"`, 0, false},
		{"v1-v9: empty string", roomversion.V9, `""`, 0, false},
		{"v1-v5: floats are truncated", roomversion.V5, `50.57`, 50, true},
		{"v1-v5: exponent form", roomversion.V5, `5.114698E4`, 51146, true},
		{"v6+: floats are not power levels", roomversion.V6, `50.5`, 0, false},
		{"null", roomversion.V10, `null`, 0, false},
		{"object", roomversion.V10, `{}`, 0, false},
		{"missing", roomversion.V10, ``, 0, false},
		// NOTSPEC (see parseLevel): levels beyond the int64 range saturate.
		{"out of int64 range", roomversion.V10, `99999999999999999999`, math.MaxInt64 - 1, true},
		{"v1-v5: float out of int64 range", roomversion.V5, `-1e30`, math.MinInt64, true},
		{"v1-v9: string out of int64 range", roomversion.V9, `"99999999999999999999"`, math.MaxInt64 - 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseLevel(tc.v, []byte(tc.raw))
			if got != tc.want || ok != tc.ok {
				t.Fatalf("parseLevel(%s) = %d, %v, want %d, %v", tc.raw, got, ok, tc.want, tc.ok)
			}
		})
	}
}
