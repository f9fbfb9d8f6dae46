package signing

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hafenchat/hafen/internal/core/canonicaljson"
	"github.com/hafenchat/hafen/internal/core/id"
)

func otherKey(t *testing.T) Key {
	t.Helper()
	k, err := GenerateKey(bytes.NewReader(bytes.Repeat([]byte{9}, 32)), "other.example", "ed25519:k2")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignJSONKeepsSignaturesAndUnsigned(t *testing.T) {
	k, o := vectorKey(t), otherKey(t)
	in := `{"one": 1, "unsigned": {"age_ts": 922834800000}, "signatures": {"other.example": {"ed25519:k2": "x"}}, "two": "Two"}`
	got, err := SignJSON([]byte(in), k)
	if err != nil {
		t.Fatal(err)
	}
	// Appendix "Signing Details": unsigned and signatures are not covered,
	// so the signature is the one of the plain vector.
	want := `{"one":1,"signatures":{"domain":{"ed25519:1":"KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"},"other.example":{"ed25519:k2":"x"}},"two":"Two","unsigned":{"age_ts":922834800000}}`
	if string(got) != want {
		t.Errorf("SignJSON(%s) = %s, want %s", in, got, want)
	}
	// A second signer adds to the first; re-signing replaces.
	both, err := SignJSON(got, o)
	if err != nil {
		t.Fatal(err)
	}
	again, err := SignJSON(both, o)
	if err != nil || !bytes.Equal(again, both) {
		t.Errorf("re-signing changed the object: %s, %v, want %s", again, err, both)
	}
	if err := VerifyJSON(both, "domain", "ed25519:1", k.Public()); err != nil {
		t.Errorf("VerifyJSON(domain) = %v", err)
	}
	if err := VerifyJSON(both, "other.example", "ed25519:k2", o.Public()); err != nil {
		t.Errorf("VerifyJSON(other.example) = %v", err)
	}
}

func TestSignJSONErrors(t *testing.T) {
	k := vectorKey(t)
	tests := []struct {
		name string
		in   string
		err  error
	}{
		{"not an object", `[1]`, canonicaljson.ErrNotObject},
		{"invalid JSON", `{"a":}`, canonicaljson.ErrSyntax},
		{"duplicate keys", `{"a":1,"a":2}`, canonicaljson.ErrDuplicateKey},
		{"signatures not an object", `{"signatures":[]}`, ErrNotObject},
		{"signatures null", `{"signatures":null}`, ErrNotObject},
		{"server entry not an object", `{"signatures":{"domain":"x"}}`, ErrNotObject},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := SignJSON([]byte(tc.in), k); !errors.Is(err, tc.err) {
				t.Errorf("SignJSON(%s) = %s, %v, want %v", tc.in, got, err, tc.err)
			}
		})
	}
	if _, err := SignJSON([]byte(`{}`), Key{ServerName: "x", KeyID: "ed25519:1"}); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("SignJSON with no private key error = %v, want ErrInvalidKey", err)
	}
}

func TestVerifyJSON(t *testing.T) {
	k := vectorKey(t)
	signed, err := SignJSON([]byte(`{"a":1,"b":{"c":"d"}}`), k)
	if err != nil {
		t.Fatal(err)
	}
	sig := func(obj string) string {
		var v struct {
			Signatures map[string]map[string]string `json:"signatures"`
		}
		if err := json.Unmarshal([]byte(obj), &v); err != nil {
			t.Fatal(err)
		}
		return v.Signatures["domain"]["ed25519:1"]
	}(string(signed))
	withSig := func(body, s string) []byte {
		return []byte(`{` + body + `"signatures":{"domain":{"ed25519:1":` + s + `}}}`)
	}
	tests := []struct {
		name   string
		obj    []byte
		server id.ServerName
		keyID  KeyID
		pub    ed25519.PublicKey
		err    error
	}{
		{"valid", signed, "domain", "ed25519:1", k.Public(), nil},
		{"valid with whitespace and other order", withSig(` "b" : { "c" : "d" } , "a" : 1 , `, `"`+sig+`"`), "domain", "ed25519:1", k.Public(), nil},
		{"unsigned may change", withSig(`"a":1,"b":{"c":"d"},"unsigned":{"x":1},`, `"`+sig+`"`), "domain", "ed25519:1", k.Public(), nil},
		{"padded signature accepted", withSig(`"a":1,"b":{"c":"d"},`, `"`+sig+`=="`), "domain", "ed25519:1", k.Public(), nil},
		{"tampered content", withSig(`"a":2,"b":{"c":"d"},`, `"`+sig+`"`), "domain", "ed25519:1", k.Public(), ErrBadSignature},
		{"added member", withSig(`"a":1,"b":{"c":"d"},"e":null,`, `"`+sig+`"`), "domain", "ed25519:1", k.Public(), ErrBadSignature},
		{"wrong public key", signed, "domain", "ed25519:1", otherKey(t).Public(), ErrBadSignature},
		{"signature not a string", withSig(`"a":1,"b":{"c":"d"},`, `1`), "domain", "ed25519:1", k.Public(), ErrBadSignature},
		{"signature not base64", withSig(`"a":1,"b":{"c":"d"},`, `"!!"`), "domain", "ed25519:1", k.Public(), ErrBadSignature},
		{"signature too short", withSig(`"a":1,"b":{"c":"d"},`, `"`+sig[:40]+`"`), "domain", "ed25519:1", k.Public(), ErrBadSignature},
		{"no signature by server", signed, "other", "ed25519:1", k.Public(), ErrNoSignature},
		{"no signature with key", signed, "domain", "ed25519:2", k.Public(), ErrNoSignature},
		{"no signatures member", []byte(`{"a":1}`), "domain", "ed25519:1", k.Public(), ErrNoSignature},
		{"Signatures is not signatures", []byte(`{"a":1,"Signatures":{"domain":{"ed25519:1":"` + sig + `"}}}`), "domain", "ed25519:1", k.Public(), ErrNoSignature},
		{"signatures not an object", []byte(`{"a":1,"signatures":"x"}`), "domain", "ed25519:1", k.Public(), ErrNotObject},
		{"public key of wrong length", signed, "domain", "ed25519:1", k.Public()[:31], ErrInvalidKey},
		{"not JSON", []byte(`{"a":1`), "domain", "ed25519:1", k.Public(), canonicaljson.ErrSyntax},
		{"duplicate key", withSig(`"a":1,"a":1,`, `"`+sig+`"`), "domain", "ed25519:1", k.Public(), canonicaljson.ErrDuplicateKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyJSON(tc.obj, tc.server, tc.keyID, tc.pub)
			if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("VerifyJSON(%s, %s, %s) = %v, want %v", tc.obj, tc.server, tc.keyID, err, tc.err)
			}
		})
	}
}

// TestLegacyNumbersSigned checks that objects holding floats and large
// integers (events of room versions 1–5) sign and verify over the bytes
// Synapse would sign.
func TestLegacyNumbersSigned(t *testing.T) {
	k := vectorKey(t)
	in := []byte(`{"content":{"ratio":1e10,"big":12345678901234567890},"type":"x"}`)
	signed, err := SignJSON(in, k)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(signed), `"ratio":10000000000.0`) {
		t.Errorf("SignJSON(%s) = %s, want the float written as Python writes it", in, signed)
	}
	if err := VerifyJSON(signed, "domain", "ed25519:1", k.Public()); err != nil {
		t.Errorf("VerifyJSON(%s) = %v", signed, err)
	}
	// The signature covers {"content":{"big":...,"ratio":10000000000.0},...}.
	canon, err := canonicaljson.CanonicalizeLegacyWithout(signed, "signatures", "unsigned")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"content":{"big":12345678901234567890,"ratio":10000000000.0},"type":"x"}`
	if string(canon) != want {
		t.Errorf("signed bytes = %s, want %s", canon, want)
	}
}

func TestCheckSignatures(t *testing.T) {
	k := vectorKey(t)
	k2, err := GenerateKey(bytes.NewReader(bytes.Repeat([]byte{3}, 32)), "domain", "ed25519:2")
	if err != nil {
		t.Fatal(err)
	}
	one, _ := SignJSON([]byte(`{"a":1}`), k)
	two, _ := SignJSON(one, k2)
	// A signature with an algorithm Hafen does not know is ignored.
	unknownAlg := []byte(strings.Replace(string(one), `"ed25519:1"`, `"curve9:x":"AAAA","ed25519:1"`, 1))
	badSecond := []byte(strings.Replace(string(two), `"ed25519:2":"`, `"ed25519:2":"AAAA`, 1))

	keys := map[KeyID]VerifyKey{
		"ed25519:1": {Public: k.Public(), ValidUntilTS: 1000},
		"ed25519:2": {Public: k2.Public(), ExpiredTS: 500},
	}
	lookup := func(server id.ServerName, keyID KeyID) (VerifyKey, bool) {
		if server != "domain" {
			return VerifyKey{}, false
		}
		vk, ok := keys[keyID]
		return vk, ok
	}
	onlyKey2 := func(server id.ServerName, keyID KeyID) (VerifyKey, bool) {
		if keyID == "ed25519:2" {
			return lookup(server, keyID)
		}
		return VerifyKey{}, false
	}
	tests := []struct {
		name    string
		obj     []byte
		server  id.ServerName
		ts      int64
		enforce bool
		lookup  KeyLookup
		err     error
	}{
		{"checking 1-7: one valid signature", one, "domain", 10, true, lookup, nil},
		{"checking 1-7: two valid signatures", two, "domain", 10, true, lookup, nil},
		{"checking 1: no entry for the server", one, "other", 10, true, lookup, ErrNoSignature},
		{"checking 2: unknown algorithms removed", unknownAlg, "domain", 10, true, lookup, nil},
		{"checking 3: no verification key", one, "domain", 10, true, onlyKey2, ErrNoVerifyKey},
		{"checking 7: a bad signature by a known key fails", badSecond, "domain", 10, true, lookup, ErrBadSignature},
		{"v5 validity: key expired at ts", one, "domain", 1001, true, lookup, ErrNoVerifyKey},
		{"v1-v4: validity ignored", one, "domain", 1001, false, lookup, nil},
		{"v5 validity: old key valid until expired_ts, current key not", two, "domain", 1001, true, lookup, ErrNoVerifyKey},
		{"v5 validity: only old key valid", two, "domain", 400, true, onlyKey2, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSignatures(tc.obj, tc.server, tc.ts, tc.enforce, tc.lookup)
			if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("CheckSignatures(%s, %s, %d, %v) = %v, want %v", tc.obj, tc.server, tc.ts, tc.enforce, err, tc.err)
			}
		})
	}
	noEd := []byte(`{"a":1,"signatures":{"domain":{"curve9:x":"AAAA"}}}`)
	if err := CheckSignatures(noEd, "domain", 0, false, lookup); !errors.Is(err, ErrNoSignature) {
		t.Errorf("CheckSignatures(no ed25519 signature) = %v, want ErrNoSignature", err)
	}
}
