package signing

import (
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

const benchObject = `{"auth_events":["$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","$bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"],` +
	`"content":{"body":"Hello world","msgtype":"m.text"},"depth":12345,"hashes":{"sha256":"ThisHashCoversAllFieldsInCaseThisIsRedacted"},` +
	`"origin_server_ts":1700000000000,"prev_events":["$ccccccccccccccccccccccccccccccccccccccccccc"],"room_id":"!room:example.org",` +
	`"sender":"@alice:example.org","type":"m.room.message","unsigned":{"age_ts":1700000000000}}`

func BenchmarkSignJSON(b *testing.B) {
	k := benchKey(b)
	b.SetBytes(int64(len(benchObject)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SignJSON([]byte(benchObject), k); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyJSON(b *testing.B) {
	k := benchKey(b)
	signed, err := SignJSON([]byte(benchObject), k)
	if err != nil {
		b.Fatal(err)
	}
	pub := k.Public()
	b.SetBytes(int64(len(signed)))
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifyJSON(signed, "domain", "ed25519:1", pub); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckSignatures(b *testing.B) {
	k := benchKey(b)
	signed, err := SignJSON([]byte(benchObject), k)
	if err != nil {
		b.Fatal(err)
	}
	vk := VerifyKey{Public: k.Public(), ValidUntilTS: 1 << 62}
	lookup := func(id.ServerName, KeyID) (VerifyKey, bool) { return vk, true }
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckSignatures(signed, "domain", 1700000000000, true, lookup); err != nil {
			b.Fatal(err)
		}
	}
}

func benchKey(b *testing.B) Key {
	seed, err := DecodeBase64(vectorSeed)
	if err != nil {
		b.Fatal(err)
	}
	k, err := KeyFromSeed("domain", "ed25519:1", seed)
	if err != nil {
		b.Fatal(err)
	}
	return k
}
