package signing

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseKeyID(t *testing.T) {
	tests := []struct {
		in        string
		ok        bool
		alg, vers string
	}{
		{"ed25519:1", true, "ed25519", "1"},
		{"ed25519:a_AbCd09", true, "ed25519", "a_AbCd09"},
		{"ed25519:auto", true, "ed25519", "auto"},
		{"signed_curve25519:X", true, "signed_curve25519", "X"},
		{"ed25519", false, "", ""},
		{"ed25519:", false, "", ""},
		{":1", false, "", ""},
		{"ed25519:a-b", false, "", ""},
		{"ed25519:a:b", false, "", ""},
		{"ed25519:a b", false, "", ""},
		{"ed25519:é", false, "", ""},
	}
	for _, tc := range tests {
		got, err := ParseKeyID(tc.in)
		if !tc.ok {
			if !errors.Is(err, ErrInvalidKeyID) {
				t.Errorf("ParseKeyID(%q) = %q, %v, want ErrInvalidKeyID", tc.in, got, err)
			}
			continue
		}
		if err != nil || got.Algorithm() != tc.alg || got.Version() != tc.vers {
			t.Errorf("ParseKeyID(%q) = %q (%q, %q), %v, want (%q, %q)", tc.in, got, got.Algorithm(), got.Version(), err, tc.alg, tc.vers)
		}
	}
}

func TestKeyFromSeed(t *testing.T) {
	k := vectorKey(t)
	// The appendix's seed ends in "XA1", whose last character carries a
	// non-zero unused bit; the canonical encoding of the same 32 bytes ends
	// in "XA0". Decoding must accept it (TestSignJSONVectors proves the
	// bytes are right).
	if got := EncodeBase64(k.Seed()); got != vectorSeedCanonical {
		t.Errorf("Seed() = %s, want %s", got, vectorSeedCanonical)
	}
	if len(k.Public()) != ed25519.PublicKeySize {
		t.Errorf("Public() has %d bytes", len(k.Public()))
	}
	if _, err := KeyFromSeed("domain", "ed25519:1", make([]byte, 31)); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("KeyFromSeed(31 bytes) error = %v, want ErrInvalidKey", err)
	}
	if _, err := KeyFromSeed("domain", "curve25519:1", make([]byte, 32)); !errors.Is(err, ErrUnsupportedAlgorithm) {
		t.Errorf("KeyFromSeed(curve25519) error = %v, want ErrUnsupportedAlgorithm", err)
	}
	if _, err := KeyFromSeed("domain", "ed25519:a-b", make([]byte, 32)); !errors.Is(err, ErrInvalidKeyID) {
		t.Errorf("KeyFromSeed(ed25519:a-b) error = %v, want ErrInvalidKeyID", err)
	}
}

func TestGenerateKey(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, 32)
	k, err := GenerateKey(bytes.NewReader(seed), "example.org", "ed25519:a_1")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.Seed(), seed) || k.ServerName != "example.org" || k.KeyID != "ed25519:a_1" {
		t.Errorf("GenerateKey = %v with seed %x, want seed %x", k, k.Seed(), seed)
	}
	if _, err := GenerateKey(bytes.NewReader(seed[:10]), "example.org", "ed25519:a_1"); err == nil {
		t.Error("GenerateKey with a short reader succeeded, want an error")
	}
}

func TestKeyDoesNotLeak(t *testing.T) {
	k := vectorKey(t)
	secret := EncodeBase64(k.Seed())
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		s := fmt.Sprintf(format, k)
		if strings.Contains(s, secret) || strings.Contains(s, fmt.Sprint([]byte(k.Private))) || strings.Contains(s, fmt.Sprintf("%x", k.Seed()[:8])) {
			t.Errorf("Sprintf(%q, key) = %q leaks the private key", format, s)
		}
		if !strings.Contains(s, "ed25519:1") {
			t.Errorf("Sprintf(%q, key) = %q, want it to name the key ID", format, s)
		}
	}
}

func TestVerifyKeyValidAt(t *testing.T) {
	current := VerifyKey{ValidUntilTS: 1000}
	old := VerifyKey{ExpiredTS: 500}
	tests := []struct {
		name    string
		key     VerifyKey
		ts      int64
		enforce bool
		want    bool
	}{
		{"v5 validity: valid_until_ts >= origin_server_ts", current, 1000, true, true},
		{"v5 validity: before valid_until_ts", current, 1, true, true},
		{"v5 validity: after valid_until_ts", current, 1001, true, false},
		{"v1-v4 ignore valid_until_ts", current, 5000, false, true},
		{"old key: signed before expired_ts", old, 499, true, true},
		{"old key: signed at expired_ts", old, 500, true, true},
		{"old key: signed after expired_ts", old, 501, true, false},
		{"old key: v1-v4 ignore expired_ts", old, 501, false, true},
	}
	for _, tc := range tests {
		if got := tc.key.ValidAt(tc.ts, tc.enforce); got != tc.want {
			t.Errorf("%s: %+v.ValidAt(%d, %v) = %v, want %v", tc.name, tc.key, tc.ts, tc.enforce, got, tc.want)
		}
	}
	if current.IsOld() || !old.IsOld() {
		t.Errorf("IsOld: current %v, old %v", current.IsOld(), old.IsOld())
	}
}

func TestKeyFile(t *testing.T) {
	k := vectorKey(t)
	k2, err := GenerateKey(bytes.NewReader(bytes.Repeat([]byte{1}, 32)), "domain", "ed25519:a_XyZ")
	if err != nil {
		t.Fatal(err)
	}
	data, err := MarshalKeyFile(k, k2)
	if err != nil {
		t.Fatal(err)
	}
	want := "ed25519 1 " + vectorSeedCanonical + "\ned25519 a_XyZ " + EncodeBase64(k2.Seed()) + "\n"
	if string(data) != want {
		t.Errorf("MarshalKeyFile = %q, want %q", data, want)
	}
	keys, err := ParseKeyFile(data, "domain")
	if err != nil || len(keys) != 2 {
		t.Fatalf("ParseKeyFile(%q) = %v, %v", data, keys, err)
	}
	for i, want := range []Key{k, k2} {
		if keys[i].KeyID != want.KeyID || keys[i].ServerName != want.ServerName || !keys[i].Private.Equal(want.Private) {
			t.Errorf("ParseKeyFile key %d = %v, want %v", i, keys[i], want)
		}
	}
	// Synapse writes one key without a trailing newline in some versions,
	// and operators edit files by hand.
	if keys, err := ParseKeyFile([]byte("\n  ed25519\ta_1  "+vectorSeed+"=\r\n\n"), "domain"); err != nil || len(keys) != 1 || keys[0].KeyID != "ed25519:a_1" {
		t.Errorf("ParseKeyFile(hand-edited) = %v, %v", keys, err)
	}
	for _, bad := range []string{
		"",
		"ed25519 1",
		"ed25519 1 " + vectorSeed + " extra",
		"curve25519 1 " + vectorSeed,
		"ed25519 a-b " + vectorSeed,
		"ed25519 1 " + vectorSeed[:20],
		"ed25519 1 !!!!",
	} {
		if keys, err := ParseKeyFile([]byte(bad), "domain"); !errors.Is(err, ErrInvalidKeyFile) {
			t.Errorf("ParseKeyFile(%q) = %v, %v, want ErrInvalidKeyFile", bad, keys, err)
		}
	}
	if _, err := MarshalKeyFile(Key{KeyID: "ed25519:1", Private: ed25519.PrivateKey{1}}); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("MarshalKeyFile(short key) error = %v, want ErrInvalidKey", err)
	}
}
