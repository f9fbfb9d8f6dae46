package canonicaljson

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// benchEvent is a typical federated m.room.message PDU (~1 KiB).
const benchEvent = `{
  "auth_events": ["$urlsafe_base64_encoded_eventid_aaaaaaaaaaaaa", "$urlsafe_base64_encoded_eventid_bbbbbbbbbbbbb", "$urlsafe_base64_encoded_eventid_ccccccccccccc"],
  "content": {"body": "Hello <world> & everyone! \u00e9\u65e5\u672c \ud83d\ude00", "msgtype": "m.text", "format": "org.matrix.custom.html",
    "formatted_body": "<b>Hello</b> world", "m.mentions": {"user_ids": ["@alice:example.org"]}},
  "depth": 12345,
  "hashes": {"sha256": "ThisHashCoversAllFieldsInCaseThisIsRedacted"},
  "origin_server_ts": 1700000000000,
  "prev_events": ["$urlsafe_base64_encoded_eventid_ddddddddddddd"],
  "room_id": "!abcdefghijklmnop:example.org",
  "sender": "@alice:example.org",
  "signatures": {"example.org": {"ed25519:a_key1": "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA"}},
  "type": "m.room.message",
  "unsigned": {"age_ts": 1700000000000, "transaction_id": "m1700000000.0"}
}`

// benchPowerLevels builds a large m.room.power_levels event with n users in
// reverse order, so that sorting has work to do.
func benchPowerLevels(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"type":"m.room.power_levels","state_key":"","content":{"users":{`)
	for i := n; i > 0; i-- {
		if i != n {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"@user%06d:example.org":%d`, i, i%100)
	}
	b.WriteString(`},"events":{"m.room.name":50,"m.room.power_levels":100},"ban":50}}`)
	return []byte(b.String())
}

func benchInputs() []struct {
	name string
	data []byte
} {
	return []struct {
		name string
		data []byte
	}{
		{"event", []byte(benchEvent)},
		{"power_levels_2000_users", benchPowerLevels(2000)},
	}
}

func BenchmarkCanonicalize(b *testing.B) {
	for _, in := range benchInputs() {
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Canonicalize(in.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCanonicalizeWithout(b *testing.B) {
	data := []byte(benchEvent)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CanonicalizeWithout(data, "signatures", "unsigned"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCanonicalizeLegacy(b *testing.B) {
	for _, in := range benchInputs() {
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := CanonicalizeLegacy(in.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, in := range benchInputs() {
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(in.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, in := range benchInputs() {
		v, err := Decode(in.data)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Encode(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodingJSONBaseline is the naive approach for comparison:
// encoding/json into any and back (which sorts map keys but escapes HTML
// characters and does none of the strict checks).
func BenchmarkEncodingJSONBaseline(b *testing.B) {
	for _, in := range benchInputs() {
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.data)))
			b.ReportAllocs()
			for b.Loop() {
				var v any
				if err := json.Unmarshal(in.data, &v); err != nil {
					b.Fatal(err)
				}
				if _, err := json.Marshal(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
