package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/hafenchat/hafen/internal/core/canonicaljson"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
)

// specKey is the signing key of the appendices' "Cryptographic Test
// Vectors": seed YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1, server
// "domain", key ID ed25519:1.
func specKey(t testing.TB) signing.Key {
	t.Helper()
	seed, err := signing.DecodeBase64("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1")
	if err != nil {
		t.Fatal(err)
	}
	k, err := signing.KeyFromSeed("domain", "ed25519:1", seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustCanon(t testing.TB, s string) []byte {
	t.Helper()
	b, err := canonicaljson.CanonicalizeLegacy([]byte(s))
	if err != nil {
		t.Fatalf("canonicalize %s: %v", s, err)
	}
	return b
}

// Spec appendices, "Cryptographic Test Vectors" → "Event Signing". The
// signatures cover the redacted event, and the redaction algorithm of rooms
// v1–v10 keeps the top-level "origin" of these events.
var specEventSigning = []struct {
	name, in, want string
}{
	{
		name: "appendices event signing: minimal event",
		in: `{"room_id":"!x:domain","sender":"@a:domain","origin":"domain","origin_server_ts":1000000,
			"signatures":{},"hashes":{},"type":"X","content":{},"prev_events":[],"auth_events":[],
			"depth":3,"unsigned":{"age_ts":1000000}}`,
		want: `{"auth_events":[],"content":{},"depth":3,"hashes":{"sha256":"5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos"},
			"origin":"domain","origin_server_ts":1000000,"prev_events":[],"room_id":"!x:domain","sender":"@a:domain",
			"signatures":{"domain":{"ed25519:1":"KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg"}},
			"type":"X","unsigned":{"age_ts":1000000}}`,
	},
	{
		name: "appendices event signing: event with redactable content",
		in: `{"content":{"body":"Here is the message content"},"event_id":"$0:domain","origin":"domain",
			"origin_server_ts":1000000,"type":"m.room.message","room_id":"!r:domain","sender":"@u:domain",
			"signatures":{},"unsigned":{"age_ts":1000000}}`,
		want: `{"content":{"body":"Here is the message content"},"event_id":"$0:domain",
			"hashes":{"sha256":"onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g"},"origin":"domain","origin_server_ts":1000000,
			"type":"m.room.message","room_id":"!r:domain","sender":"@u:domain",
			"signatures":{"domain":{"ed25519:1":"Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA"}},
			"unsigned":{"age_ts":1000000}}`,
	},
}

func TestSignSpecVectors(t *testing.T) {
	k := specKey(t)
	for _, tc := range specEventSigning {
		for _, v := range roomversion.All() {
			if v.Redaction >= roomversion.RedactionV11 {
				continue // v11+ no longer protects "origin": other signature
			}
			t.Run(tc.name+" v"+string(v.ID), func(t *testing.T) {
				in := []byte(tc.in)
				orig := bytes.Clone(in)
				got, err := Sign(in, v, k)
				if err != nil {
					t.Fatalf("Sign: %v", err)
				}
				if want := mustCanon(t, tc.want); !bytes.Equal(got, want) {
					t.Errorf("Sign =\n%s\nwant\n%s", got, want)
				}
				if !bytes.Equal(in, orig) {
					t.Errorf("Sign changed its input")
				}
				if err := CheckContentHash(got); err != nil {
					t.Errorf("CheckContentHash(signed) = %v", err)
				}
				redacted, err := Redact(got, v)
				if err != nil {
					t.Fatal(err)
				}
				if err := signing.VerifyJSON(redacted, "domain", "ed25519:1", k.Public()); err != nil {
					t.Errorf("VerifyJSON(redacted) = %v", err)
				}
			})
		}
	}
}

// In rooms v11+ the content hash of the vectors is unchanged (it covers the
// whole event) but the signature is not, since "origin" is redacted away.
func TestSignSpecVectorsV11(t *testing.T) {
	k := specKey(t)
	for _, tc := range specEventSigning {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Sign([]byte(tc.in), roomversion.V11, k)
			if err != nil {
				t.Fatal(err)
			}
			var g, w struct {
				Hashes     json.RawMessage
				Signatures map[string]map[string]string
			}
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tc.want), &w); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(g.Hashes, w.Hashes) {
				t.Errorf("hashes = %s, want %s", g.Hashes, w.Hashes)
			}
			if g.Signatures["domain"]["ed25519:1"] == w.Signatures["domain"]["ed25519:1"] {
				t.Errorf("v11 signature equals the v1–v10 one; origin must not be signed in v11")
			}
			redacted, err := Redact(got, roomversion.V11)
			if err != nil {
				t.Fatal(err)
			}
			if err := signing.VerifyJSON(redacted, "domain", "ed25519:1", k.Public()); err != nil {
				t.Errorf("VerifyJSON(redacted) = %v", err)
			}
		})
	}
}

func TestSignRejectsBadKey(t *testing.T) {
	k := specKey(t)
	for _, tc := range []struct {
		name string
		key  signing.Key
	}{
		{"short private key", signing.Key{ServerName: "domain", KeyID: "ed25519:1", Private: k.Private[:10]}},
		{"no private key", signing.Key{ServerName: "domain", KeyID: "ed25519:1"}},
		{"bad key ID", signing.Key{ServerName: "domain", KeyID: "ed25519", Private: k.Private}},
		{"bad server name", signing.Key{ServerName: "do main", KeyID: "ed25519:1", Private: k.Private}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Sign([]byte(specEventSigning[0].in), roomversion.V10, tc.key); err == nil {
				t.Errorf("Sign with %s = nil error", tc.name)
			}
		})
	}
	if _, err := Sign([]byte(`[]`), roomversion.V10, k); !errors.Is(err, ErrFormat) {
		t.Errorf("Sign([]) = %v, want ErrFormat", err)
	}
}
