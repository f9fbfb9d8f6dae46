package event

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
)

// refID returns a well-formed event ID of room version v made from seed.
func refID(v *roomversion.Version, seed string) string {
	h := sha256.Sum256([]byte(seed))
	switch v.EventIDFormat {
	case roomversion.EventIDServerAssigned:
		return "$" + seed + ":example.org"
	case roomversion.EventIDBase64:
		return "$" + signing.EncodeBase64(h[:])
	default:
		return "$" + signing.EncodeBase64URL(h[:])
	}
}

// refList lays out event references in v's format.
func refList(v *roomversion.Version, ids ...string) []any {
	out := []any{}
	for _, s := range ids {
		if v.EventIDInEvent {
			out = append(out, []any{s, map[string]any{"sha256": "AAAA"}})
		} else {
			out = append(out, s)
		}
	}
	return out
}

// validPDU returns a well-formed m.room.message PDU of room version v.
func validPDU(v *roomversion.Version) map[string]any {
	m := map[string]any{
		"room_id":          "!room:example.org",
		"sender":           "@alice:example.org",
		"type":             "m.room.message",
		"content":          map[string]any{"msgtype": "m.text", "body": "hello"},
		"depth":            3,
		"origin_server_ts": 1700000000000,
		"prev_events":      refList(v, refID(v, "prev")),
		"auth_events":      refList(v, refID(v, "create"), refID(v, "member")),
		"hashes":           map[string]any{"sha256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"},
		"signatures":       map[string]any{"example.org": map[string]any{"ed25519:1": "c2ln"}},
		"unsigned":         map[string]any{"age": 5},
	}
	if v.EventIDInEvent {
		m["event_id"] = "$msg:example.org"
	}
	return m
}

func marshal(t testing.TB, m map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseValidAllVersions(t *testing.T) {
	for _, v := range roomversion.All() {
		t.Run("v"+string(v.ID), func(t *testing.T) {
			raw := marshal(t, validPDU(v))
			e, err := Parse(raw, v)
			if err != nil {
				t.Fatalf("Parse = %v", err)
			}
			if e.Version() != v || e.RoomID() != "!room:example.org" || e.Sender() != "@alice:example.org" ||
				e.Type() != "m.room.message" || e.IsState() || e.Depth() != 3 || e.OriginServerTS() != 1700000000000 {
				t.Errorf("fields = %v %s %s %s %v %d %d", e.Version().ID, e.RoomID(), e.Sender(), e.Type(), e.IsState(), e.Depth(), e.OriginServerTS())
			}
			if string(e.Content()) != `{"body":"hello","msgtype":"m.text"}` {
				t.Errorf("Content = %s", e.Content())
			}
			wantPrev := []id.EventID{id.EventID(refID(v, "prev"))}
			wantAuth := []id.EventID{id.EventID(refID(v, "create")), id.EventID(refID(v, "member"))}
			if !slices.Equal(e.PrevEvents(), wantPrev) || !slices.Equal(e.AuthEvents(), wantAuth) {
				t.Errorf("PrevEvents = %v, AuthEvents = %v, want %v, %v", e.PrevEvents(), e.AuthEvents(), wantPrev, wantAuth)
			}
			if v.EventIDInEvent {
				if e.EventID() != "$msg:example.org" {
					t.Errorf("EventID = %s, want $msg:example.org", e.EventID())
				}
			} else if want, _ := ComputeEventID(raw, v); e.EventID() != want || want == "" {
				t.Errorf("EventID = %s, want %s", e.EventID(), want)
			}
		})
	}
}

// parseCase is one mutation of validPDU and the expected outcome.
type parseCase struct {
	name    string
	applies func(v *roomversion.Version) bool // nil: all versions
	mutate  func(v *roomversion.Version, m map[string]any)
	raw     func(v *roomversion.Version, valid []byte) []byte // replaces marshalling
	want    error                                             // nil: accepted
}

func all(*roomversion.Version) bool           { return true }
func v1v2(v *roomversion.Version) bool        { return v.EventIDInEvent }
func v3plus(v *roomversion.Version) bool      { return !v.EventIDInEvent }
func strictJSON(v *roomversion.Version) bool  { return v.StrictCanonicalJSON }
func legacyJSON(v *roomversion.Version) bool  { return !v.StrictCanonicalJSON }
func redactsTop(v *roomversion.Version) bool  { return !v.RedactsInContent }
func redactsCont(v *roomversion.Version) bool { return v.RedactsInContent }

func del(key string) func(*roomversion.Version, map[string]any) {
	return func(_ *roomversion.Version, m map[string]any) { delete(m, key) }
}

func set(key string, val any) func(*roomversion.Version, map[string]any) {
	return func(_ *roomversion.Version, m map[string]any) { m[key] = val }
}

func many(v *roomversion.Version, n int) []any {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = refID(v, fmt.Sprint("e", i))
	}
	return refList(v, ids...)
}

var parseCases = []parseCase{
	// Required fields (pdu_base.yaml, pdu_v1.yaml, pdu_v3.yaml, pdu_v4.yaml …).
	{name: "pdu: type is required", mutate: del("type"), want: ErrFormat},
	{name: "pdu: sender is required", mutate: del("sender"), want: ErrFormat},
	{name: "pdu: content is required", mutate: del("content"), want: ErrFormat},
	{name: "pdu: depth is required", mutate: del("depth"), want: ErrFormat},
	{name: "pdu: origin_server_ts is required", mutate: del("origin_server_ts"), want: ErrFormat},
	{name: "pdu: prev_events is required", mutate: del("prev_events"), want: ErrFormat},
	{name: "pdu: auth_events is required", mutate: del("auth_events"), want: ErrFormat},
	{name: "pdu: hashes is required", mutate: del("hashes"), want: ErrFormat},
	{name: "pdu: signatures is required", mutate: del("signatures"), want: ErrFormat},
	{name: "pdu v1-v11: room_id is required", mutate: del("room_id"), want: ErrFormat},
	{name: "pdu v1-v2: event_id is required", applies: v1v2, mutate: del("event_id"), want: ErrFormat},
	{name: "pdu v3+: an event_id member is an ignored extra key", applies: v3plus, mutate: set("event_id", "$x:example.org")},
	{name: "pdu: unsigned is optional", mutate: del("unsigned")},
	{name: "pdu: keys are case-sensitive", mutate: func(_ *roomversion.Version, m map[string]any) { m["Type"] = m["type"]; delete(m, "type") }, want: ErrFormat},
	{name: "pdu: unknown keys are allowed", mutate: set("origin", "example.org")},

	// Types.
	{name: "pdu: type must be a string", mutate: set("type", 1), want: ErrFormat},
	{name: "pdu: sender must be a string", mutate: set("sender", nil), want: ErrFormat},
	{name: "pdu: room_id must be a string", mutate: set("room_id", []any{}), want: ErrFormat},
	{name: "pdu: state_key must be a string", mutate: set("state_key", 0), want: ErrFormat},
	{name: "pdu: empty state_key makes a state event", mutate: set("state_key", "")},
	{name: "pdu: content must be an object", mutate: set("content", []any{}), want: ErrFormat},
	{name: "pdu: content must not be null", mutate: set("content", nil), want: ErrFormat},
	{name: "pdu: depth must be an integer", mutate: set("depth", "3"), want: ErrFormat},
	{name: "pdu: origin_server_ts must be an integer", mutate: set("origin_server_ts", true), want: ErrFormat},
	{name: "pdu: prev_events must be an array", mutate: set("prev_events", map[string]any{}), want: ErrFormat},
	{name: "pdu: auth_events must not be null", mutate: set("auth_events", nil), want: ErrFormat},
	{name: "pdu: hashes must be an object", mutate: set("hashes", "x"), want: ErrFormat},
	{name: "event hash: sha256 is required", mutate: set("hashes", map[string]any{"sha512": "x"}), want: ErrFormat},
	{name: "event hash: sha256 must be a string", mutate: set("hashes", map[string]any{"sha256": 1}), want: ErrFormat},
	{name: "pdu: signatures must be an object", mutate: set("signatures", []any{}), want: ErrFormat},
	{name: "pdu: server signatures must be an object", mutate: set("signatures", map[string]any{"example.org": "x"}), want: ErrFormat},
	{name: "pdu: a signature must be a string", mutate: set("signatures", map[string]any{"example.org": map[string]any{"ed25519:1": 1}}), want: ErrFormat},
	{name: "pdu: empty signatures object has the right shape", mutate: set("signatures", map[string]any{})},
	{name: "pdu: unsigned must be an object", mutate: set("unsigned", "x"), want: ErrFormat},

	// prev_events and auth_events layout.
	{name: "pdu v1-v2: references are [event_id, hashes] pairs, not strings", applies: v1v2,
		mutate: set("prev_events", []any{"$p:example.org"}), want: ErrFormat},
	{name: "pdu v1-v2: a reference pair has exactly two items", applies: v1v2,
		mutate: set("prev_events", []any{[]any{"$p:example.org", map[string]any{}, 1}}), want: ErrFormat},
	{name: "pdu v1-v2: the second item of a pair is a hashes object", applies: v1v2,
		mutate: set("auth_events", []any{[]any{"$p:example.org", "AAAA"}}), want: ErrFormat},
	{name: "pdu v3+: references are event ID strings, not pairs", applies: v3plus,
		mutate: func(v *roomversion.Version, m map[string]any) {
			m["prev_events"] = []any{[]any{refID(v, "p"), map[string]any{"sha256": "AAAA"}}}
		}, want: ErrFormat},
	{name: "pdu: prev_events with 20 entries", mutate: func(v *roomversion.Version, m map[string]any) { m["prev_events"] = many(v, 20) }},
	{name: "pdu: prev_events must contain at most 20 events", mutate: func(v *roomversion.Version, m map[string]any) { m["prev_events"] = many(v, 21) }, want: ErrFormat},
	{name: "pdu: auth_events with 10 entries", mutate: func(v *roomversion.Version, m map[string]any) { m["auth_events"] = many(v, 10) }},
	{name: "pdu: auth_events must contain at most 10 events", mutate: func(v *roomversion.Version, m map[string]any) { m["auth_events"] = many(v, 11) }, want: ErrFormat},
	{name: "pdu: empty prev_events", mutate: set("prev_events", []any{})},

	// Event ID forms (rooms v1, v3, v4 "Event IDs").
	{name: "event IDs v1-v2: hash-form references are not allowed", applies: v1v2,
		mutate: set("prev_events", []any{[]any{"$" + strings.Repeat("A", 43), map[string]any{}}}), want: ErrFormat},
	{name: "event IDs v1-v2: event_id needs a server name", applies: v1v2, mutate: set("event_id", "$abc"), want: ErrFormat},
	{name: "event IDs v1-v2: event_id needs the $ sigil", applies: v1v2, mutate: set("event_id", "abc:example.org"), want: ErrFormat},
	{name: "event IDs v3+: server-assigned references are not allowed", applies: v3plus,
		mutate: set("prev_events", []any{"$abc:example.org"}), want: ErrFormat},
	{name: "event IDs v3: URL-safe base64 is not allowed",
		applies: func(v *roomversion.Version) bool { return v.EventIDFormat == roomversion.EventIDBase64 },
		mutate:  set("prev_events", []any{"$" + strings.Repeat("-", 42) + "A"}), want: ErrFormat},
	{name: "event IDs v4+: standard base64 is not allowed",
		applies: func(v *roomversion.Version) bool { return v.EventIDFormat == roomversion.EventIDURLSafeBase64 },
		mutate:  set("prev_events", []any{"$" + strings.Repeat("+", 42) + "A"}), want: ErrFormat},
	{name: "event IDs v3+: a hash has 43 characters", applies: v3plus,
		mutate: set("auth_events", []any{"$AAAA"}), want: ErrFormat},

	// Identifier grammar and size limits (client-server "Size limits").
	{name: "size limits: sender must be a user ID", mutate: set("sender", "alice"), want: ErrFormat},
	{name: "size limits: sender at most 255 bytes", mutate: set("sender", "@"+strings.Repeat("a", 250)+":example.org"), want: ErrFormat},
	{name: "size limits: room_id must be a room ID", mutate: set("room_id", "#room:example.org"), want: ErrFormat},
	{name: "size limits: type of 255 bytes", mutate: set("type", strings.Repeat("t", 255))},
	{name: "size limits: type at most 255 bytes", mutate: set("type", strings.Repeat("t", 256)), want: ErrTooLarge},
	{name: "size limits: state_key of 255 bytes", mutate: set("state_key", strings.Repeat("s", 255))},
	{name: "size limits: state_key at most 255 bytes", mutate: set("state_key", strings.Repeat("s", 256)), want: ErrTooLarge},
	{name: "no NUL in type", mutate: set("type", "m.room.\x00message"), want: ErrFormat},
	{name: "no NUL in state_key", mutate: set("state_key", "a\x00b"), want: ErrFormat},
	{name: "NUL in content is allowed", mutate: set("content", map[string]any{"body": "a\x00b"})},
	{name: "size limits: event at most 65536 bytes of canonical JSON",
		mutate: set("content", map[string]any{"body": strings.Repeat("x", 65536)}), want: ErrTooLarge},
	{name: "size limits: an event of exactly 65536 bytes",
		raw: func(v *roomversion.Version, valid []byte) []byte {
			pad := MaxEventSize - len(valid) - len(`"pad":"",`)
			return []byte(`{"pad":"` + strings.Repeat("x", pad) + `",` + string(valid[1:]))
		}},
	{name: "size limits: an event of 65537 bytes",
		raw: func(v *roomversion.Version, valid []byte) []byte {
			pad := MaxEventSize + 1 - len(valid) - len(`"pad":"",`)
			return []byte(`{"pad":"` + strings.Repeat("x", pad) + `",` + string(valid[1:]))
		}, want: ErrTooLarge},
	{name: "size limits: whitespace does not count",
		raw: func(v *roomversion.Version, valid []byte) []byte {
			return []byte(strings.Repeat(" ", MaxEventSize) + string(valid))
		}},

	// Depth.
	{name: "depth: zero", mutate: set("depth", 0)},
	{name: "depth: negative", mutate: set("depth", -1), want: ErrFormat},
	{name: "depth v6+: 2^53-1 is the limit", applies: strictJSON, mutate: set("depth", int64(1)<<53-1)},
	{name: "depth v6+: 2^53 is out of range", applies: strictJSON, mutate: set("depth", int64(1)<<53), want: ErrFormat},
	{name: "depth v1-v5: 2^63-1 is the limit", applies: legacyJSON, mutate: set("depth", int64(math.MaxInt64))},
	{name: "depth v1-v5: 2^63 is out of range", applies: legacyJSON, mutate: set("depth", uint64(1)<<63), want: ErrFormat},
	{name: "depth: must not be a float", mutate: set("depth", 3.5), want: ErrFormat},

	// Canonical JSON (rooms v6 "Canonical JSON").
	{name: "canonical JSON v6+: floats in content are rejected", applies: strictJSON,
		mutate: set("content", map[string]any{"n": 1.5}), want: ErrFormat},
	{name: "canonical JSON v1-v5: floats in content are accepted", applies: legacyJSON,
		mutate: set("content", map[string]any{"n": 1.5})},
	{name: "canonical JSON v6+: integers beyond 2^53-1 are rejected", applies: strictJSON,
		mutate: set("content", map[string]any{"n": int64(1) << 60}), want: ErrFormat},
	{name: "JSON: duplicate keys are rejected",
		raw:  func(_ *roomversion.Version, valid []byte) []byte { return []byte(`{"type":"x",` + string(valid[1:])) },
		want: ErrFormat},
	{name: "JSON: invalid UTF-8 is rejected",
		raw: func(_ *roomversion.Version, valid []byte) []byte {
			return []byte(`{"x":"` + "\xff" + `",` + string(valid[1:]))
		},
		want: ErrFormat},
	{name: "JSON: not an object", raw: func(_ *roomversion.Version, _ []byte) []byte { return []byte(`[]`) }, want: ErrFormat},
	{name: "JSON: trailing data", raw: func(_ *roomversion.Version, valid []byte) []byte { return append(valid, '1') }, want: ErrFormat},

	// redacts.
	{name: "pdu v1-v10: top-level redacts must be an event ID", applies: redactsTop, mutate: set("redacts", "nope"), want: ErrFormat},
	{name: "pdu v1-v10: top-level redacts must be a string", applies: redactsTop, mutate: set("redacts", 1), want: ErrFormat},
	{name: "pdu v11+: a top-level redacts is an ignored extra key", applies: redactsCont, mutate: set("redacts", 1)},

	// room_id of v12 create events (rooms v12 "Event format").
	{name: "pdu v12: a create event has no room_id",
		applies: func(v *roomversion.Version) bool { return v.RoomIDFromCreateEvent },
		mutate: func(v *roomversion.Version, m map[string]any) {
			m["type"], m["state_key"], m["content"], m["prev_events"], m["auth_events"] = "m.room.create", "", map[string]any{}, []any{}, []any{}
			delete(m, "room_id")
		}},
	{name: "pdu v1-v11: a create event needs a room_id",
		applies: func(v *roomversion.Version) bool { return !v.RoomIDFromCreateEvent },
		mutate: func(v *roomversion.Version, m map[string]any) {
			m["type"], m["state_key"] = "m.room.create", ""
			delete(m, "room_id")
		}, want: ErrFormat},
	{name: "pdu v12: a create event with a room_id is left to auth rule 1.2",
		applies: func(v *roomversion.Version) bool { return v.RoomIDFromCreateEvent },
		mutate: func(v *roomversion.Version, m map[string]any) {
			m["type"], m["state_key"] = "m.room.create", ""
		}},
}

func TestParseFormat(t *testing.T) {
	for _, tc := range parseCases {
		for _, v := range roomversion.All() {
			if tc.applies != nil && !tc.applies(v) {
				continue
			}
			t.Run(fmt.Sprintf("%s/v%s", tc.name, v.ID), func(t *testing.T) {
				m := validPDU(v)
				if tc.mutate != nil {
					tc.mutate(v, m)
				}
				raw := marshal(t, m)
				if tc.raw != nil {
					raw = tc.raw(v, marshal(t, validPDU(v)))
				}
				_, err := Parse(raw, v)
				switch {
				case tc.want == nil && err != nil:
					t.Errorf("Parse = %v, want success", err)
				case tc.want != nil && !errors.Is(err, tc.want):
					t.Errorf("Parse = %v, want %v", err, tc.want)
				}
			})
		}
	}
}

func TestParseNoVersion(t *testing.T) {
	raw := marshal(t, validPDU(roomversion.V10))
	if _, err := Parse(raw, nil); !errors.Is(err, ErrFormat) {
		t.Errorf("Parse(nil version) = %v, want ErrFormat", err)
	}
	if _, err := ParseTrusted(raw, nil, "$x"); !errors.Is(err, ErrFormat) {
		t.Errorf("ParseTrusted(nil version) = %v, want ErrFormat", err)
	}
}

func TestParseStateAndRedacts(t *testing.T) {
	v := roomversion.V10
	m := validPDU(v)
	m["state_key"] = "@bob:example.org"
	m["type"] = "m.room.member"
	e, err := Parse(marshal(t, m), v)
	if err != nil {
		t.Fatal(err)
	}
	if sk, ok := e.StateKey(); !ok || sk != "@bob:example.org" || !e.IsStateKey("m.room.member", "@bob:example.org") ||
		e.StateKeyTuple() != (StateKey{"m.room.member", "@bob:example.org"}) {
		t.Errorf("state key = %q, %v", sk, ok)
	}

	target := refID(v, "target")
	for _, tc := range []struct {
		name string
		v    *roomversion.Version
		edit func(m map[string]any)
		want id.EventID
	}{
		{"v1-v10: redacts is top-level", roomversion.V10, func(m map[string]any) { m["redacts"] = target }, id.EventID(target)},
		{"v1-v10: content.redacts is not redacts", roomversion.V10, func(m map[string]any) { m["content"] = map[string]any{"redacts": target} }, ""},
		{"v11+: redacts is in content", roomversion.V11, func(m map[string]any) { m["content"] = map[string]any{"redacts": target} }, id.EventID(target)},
		{"v11+: top-level redacts is not redacts", roomversion.V11, func(m map[string]any) { m["redacts"] = target }, ""},
		{"v11+: malformed content.redacts is ignored", roomversion.V11, func(m map[string]any) { m["content"] = map[string]any{"redacts": "x"} }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := validPDU(tc.v)
			m["type"] = "m.room.redaction"
			tc.edit(m)
			e, err := Parse(marshal(t, m), tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if e.Redacts() != tc.want {
				t.Errorf("Redacts = %q, want %q", e.Redacts(), tc.want)
			}
		})
	}
}

func TestParseTrusted(t *testing.T) {
	tests := []struct {
		name string
		v    *roomversion.Version
		raw  string
		ok   bool
	}{
		{"fixture without hashes, signatures, depth", roomversion.V10,
			`{"room_id":"!room:example.com","sender":"@alice:example.com","type":"m.room.create","content":{},"state_key":"","origin_server_ts":0,"prev_events":[],"auth_events":[]}`, true},
		{"made-up event IDs are accepted", roomversion.V12,
			`{"room_id":"!00-m-room-create","sender":"@alice:example.com","type":"m.room.member","content":{"membership":"join"},"state_key":"@alice:example.com","prev_events":["$00-m-room-create"],"auth_events":[]}`, true},
		{"null reference lists read as empty", roomversion.V10,
			`{"room_id":"!r:x","sender":"@a:x","type":"t","content":{},"prev_events":null,"auth_events":null}`, true},
		{"v1 pairs", roomversion.V1,
			`{"room_id":"!r:x","sender":"@a:x","type":"t","content":{},"prev_events":[["$p:x",{"sha256":"A"}]],"auth_events":[]}`, true},
		{"floats in a stored v10 event are tolerated", roomversion.V10,
			`{"room_id":"!r:x","sender":"@a:x","type":"t","content":{"n":1.5},"prev_events":[],"auth_events":[]}`, true},
		{"v1 plain strings are structurally wrong", roomversion.V1,
			`{"room_id":"!r:x","sender":"@a:x","type":"t","content":{},"prev_events":["$p:x"],"auth_events":[]}`, false},
		{"missing type", roomversion.V10, `{"room_id":"!r:x","sender":"@a:x","content":{},"prev_events":[],"auth_events":[]}`, false},
		{"missing sender", roomversion.V10, `{"room_id":"!r:x","type":"t","content":{},"prev_events":[],"auth_events":[]}`, false},
		{"missing room_id", roomversion.V11, `{"sender":"@a:x","type":"t","content":{},"prev_events":[],"auth_events":[]}`, false},
		{"missing prev_events", roomversion.V10, `{"room_id":"!r:x","sender":"@a:x","type":"t","content":{},"auth_events":[]}`, false},
		{"content not an object", roomversion.V10, `{"room_id":"!r:x","sender":"@a:x","type":"t","content":1,"prev_events":[],"auth_events":[]}`, false},
		{"depth not a number", roomversion.V10, `{"room_id":"!r:x","sender":"@a:x","type":"t","content":{},"prev_events":[],"auth_events":[],"depth":"1"}`, false},
		{"broken JSON", roomversion.V10, `{"room_id":"!r:x"`, false},
		{"duplicate keys", roomversion.V10, `{"type":"a","type":"b","room_id":"!r:x","sender":"@a:x","content":{},"prev_events":[],"auth_events":[]}`, false},
		{"state key not a string", roomversion.V10, `{"room_id":"!r:x","sender":"@a:x","type":"t","state_key":1,"content":{},"prev_events":[],"auth_events":[]}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := ParseTrusted([]byte(tc.raw), tc.v, "$given")
			if (err == nil) != tc.ok {
				t.Fatalf("ParseTrusted = %v, want ok %v", err, tc.ok)
			}
			if err == nil && e.EventID() != "$given" {
				t.Errorf("EventID = %s, want $given", e.EventID())
			}
		})
	}
	// A v12 create event's room ID comes from the given event ID.
	e, err := ParseTrusted([]byte(`{"sender":"@a:x","type":"m.room.create","state_key":"","content":{},"prev_events":[],"auth_events":[]}`), roomversion.V12, "$00-m-room-create")
	if err != nil || e.RoomID() != "!00-m-room-create" {
		t.Errorf("ParseTrusted(v12 create) room ID = %v, %v, want !00-m-room-create", e, err)
	}
	for _, bad := range []id.EventID{"", "$", "x"} {
		if _, err := ParseTrusted([]byte(`{}`), roomversion.V10, bad); !errors.Is(err, ErrFormat) {
			t.Errorf("ParseTrusted(event ID %q) = %v, want ErrFormat", bad, err)
		}
	}
}

// TestParseKeepsNoCopies checks that a parsed event's content is a part of
// its JSON, and that the strings events repeat (room ID, sender, type, auth
// events) are one copy for two events parsed apart.
func TestParseKeepsNoCopies(t *testing.T) {
	v := roomversion.V11
	m := validPDU(v)
	a, err := Parse(marshal(t, m), v)
	if err != nil {
		t.Fatal(err)
	}
	m["content"] = map[string]any{"msgtype": "m.text", "body": "again"}
	b, err := Parse(marshal(t, m), v)
	if err != nil {
		t.Fatal(err)
	}
	raw, content := a.JSON(), a.Content()
	start, end := unsafe.Pointer(unsafe.SliceData(raw)), unsafe.Add(unsafe.Pointer(unsafe.SliceData(raw)), len(raw))
	if p := unsafe.Pointer(unsafe.SliceData(content)); uintptr(p) < uintptr(start) || uintptr(p) >= uintptr(end) {
		t.Error("content is a copy, not a part of the event's JSON")
	}
	if cap(content) != len(content) {
		t.Errorf("content has capacity %d beyond its length %d: an append would overwrite the JSON", cap(content), len(content))
	}
	same := func(what, x, y string) {
		t.Helper()
		if x != y || unsafe.StringData(x) != unsafe.StringData(y) {
			t.Errorf("%s: two copies of %q", what, x)
		}
	}
	same("room_id", string(a.RoomID()), string(b.RoomID()))
	same("sender", string(a.Sender()), string(b.Sender()))
	same("type", a.Type(), b.Type())
	for i := range a.AuthEvents() {
		same("auth_events", string(a.AuthEvents()[i]), string(b.AuthEvents()[i]))
	}
}
