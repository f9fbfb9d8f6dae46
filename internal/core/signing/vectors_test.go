package signing

import (
	"testing"
)

// Spec: https://spec.matrix.org/v1.19/appendices/#cryptographic-test-vectors

const (
	vectorSeed = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"
	// vectorSeedCanonical encodes the same bytes with zero unused bits.
	vectorSeedCanonical = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA0"
	vectorServer        = "domain"
	vectorKeyID         = "ed25519:1"
)

func vectorKey(t testing.TB) Key {
	t.Helper()
	seed, err := DecodeBase64(vectorSeed)
	if err != nil {
		t.Fatalf("DecodeBase64(seed) = %v", err)
	}
	k, err := KeyFromSeed(vectorServer, vectorKeyID, seed)
	if err != nil {
		t.Fatalf("KeyFromSeed = %v", err)
	}
	return k
}

func TestSignJSONVectors(t *testing.T) {
	k := vectorKey(t)
	tests := []struct {
		name string
		in   string
		want string
	}{
		{
			name: "appendix JSON Signing: empty object",
			in:   `{}`,
			want: `{"signatures":{"domain":{"ed25519:1":"K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"}}}`,
		},
		{
			name: "appendix JSON Signing: object with data values",
			in:   "{\n    \"one\": 1,\n    \"two\": \"Two\"\n}",
			want: `{"one":1,"signatures":{"domain":{"ed25519:1":"KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"}},"two":"Two"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SignJSON([]byte(tc.in), k)
			if err != nil {
				t.Fatalf("SignJSON(%s) error = %v", tc.in, err)
			}
			if string(got) != tc.want {
				t.Errorf("SignJSON(%s) = %s, want %s", tc.in, got, tc.want)
			}
			if err := VerifyJSON([]byte(tc.want), vectorServer, vectorKeyID, k.Public()); err != nil {
				t.Errorf("VerifyJSON(%s) = %v, want nil", tc.want, err)
			}
		})
	}
}
