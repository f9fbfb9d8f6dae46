package signing

import (
	"bytes"
	"errors"
	"testing"
)

// Spec: https://spec.matrix.org/v1.19/appendices/#unpadded-base64
func TestBase64Vectors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"f", "Zg"},
		{"fo", "Zm8"},
		{"foo", "Zm9v"},
		{"foob", "Zm9vYg"},
		{"fooba", "Zm9vYmE"},
		{"foobar", "Zm9vYmFy"},
	}
	for _, tc := range tests {
		t.Run("appendix UNPADDED_BASE64("+tc.in+")", func(t *testing.T) {
			if got := EncodeBase64([]byte(tc.in)); got != tc.want {
				t.Errorf("EncodeBase64(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if got := EncodeBase64URL([]byte(tc.in)); got != tc.want {
				t.Errorf("EncodeBase64URL(%q) = %q, want %q", tc.in, got, tc.want)
			}
			got, err := DecodeBase64(tc.want)
			if err != nil || string(got) != tc.in {
				t.Errorf("DecodeBase64(%q) = %q, %v, want %q", tc.want, got, err, tc.in)
			}
			// "Implementations SHOULD accept input with or without padding."
			padded := tc.want
			for len(padded)%4 != 0 {
				padded += "="
			}
			got, err = DecodeBase64(padded)
			if err != nil || string(got) != tc.in {
				t.Errorf("DecodeBase64(%q) = %q, %v, want %q", padded, got, err, tc.in)
			}
		})
	}
}

func TestBase64Alphabets(t *testing.T) {
	b := []byte{0xfb, 0xff, 0xbf}
	if got := EncodeBase64(b); got != "+/+/" {
		t.Errorf("EncodeBase64(%x) = %q, want +/+/", b, got)
	}
	if got := EncodeBase64URL(b); got != "-_-_" {
		t.Errorf("EncodeBase64URL(%x) = %q, want -_-_", b, got)
	}
	if got, err := DecodeBase64URL("-_-_"); err != nil || !bytes.Equal(got, b) {
		t.Errorf("DecodeBase64URL(-_-_) = %x, %v", got, err)
	}
	if got, err := DecodeBase64URL("-w=="); err != nil || !bytes.Equal(got, []byte{0xfb}) {
		t.Errorf("DecodeBase64URL(-w==) = %x, %v", got, err)
	}
	for _, bad := range []string{"-_-_", "Zg=", "Zg===", "Z", "Zm9v\n", "Zm 9v", "Zm9v!"} {
		if got, err := DecodeBase64(bad); !errors.Is(err, ErrInvalidBase64) {
			t.Errorf("DecodeBase64(%q) = %x, %v, want ErrInvalidBase64", bad, got, err)
		}
	}
	if got, err := DecodeBase64URL("+/+/"); !errors.Is(err, ErrInvalidBase64) {
		t.Errorf("DecodeBase64URL(+/+/) = %x, %v, want ErrInvalidBase64", got, err)
	}
}
