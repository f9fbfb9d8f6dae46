package event

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// versionsOf returns the room versions that use one of the given redaction
// algorithms.
func versionsOf(algs ...roomversion.RedactionAlgorithm) []*roomversion.Version {
	var out []*roomversion.Version
	for _, v := range roomversion.All() {
		for _, a := range algs {
			if v.Redaction == a {
				out = append(out, v)
			}
		}
	}
	return out
}

var (
	algsV1toV9 = []roomversion.RedactionAlgorithm{roomversion.RedactionV1, roomversion.RedactionV6, roomversion.RedactionV8, roomversion.RedactionV9}
	algsAll    = append(algsV1toV9, roomversion.RedactionV11)
)

// Top-level keys, from the lists of v1-redactions.md (…v9) and
// v11-redactions.md.
func TestRedactTopLevel(t *testing.T) {
	in := `{"event_id":"$e:x","type":"m.room.message","room_id":"!r:x","sender":"@u:x","state_key":"s",
		"content":{"body":"b"},"hashes":{"sha256":"h"},"signatures":{"x":{"ed25519:1":"s"}},"depth":5,
		"prev_events":["$p"],"prev_state":["$q"],"auth_events":["$a"],"origin":"x","origin_server_ts":7,
		"membership":"join","unsigned":{"age":1},"redacts":"$z","extra":{"k":1},"age_ts":3}`
	tests := []struct {
		name string
		algs []roomversion.RedactionAlgorithm
		want string
	}{
		{
			name: "redactions v1-v10: keep event_id type room_id sender state_key content hashes signatures depth prev_events prev_state auth_events origin origin_server_ts membership",
			algs: algsV1toV9,
			want: `{"auth_events":["$a"],"content":{},"depth":5,"event_id":"$e:x","hashes":{"sha256":"h"},"membership":"join",
				"origin":"x","origin_server_ts":7,"prev_events":["$p"],"prev_state":["$q"],"room_id":"!r:x","sender":"@u:x",
				"signatures":{"x":{"ed25519:1":"s"}},"state_key":"s","type":"m.room.message"}`,
		},
		{
			name: "redactions v11: origin, membership and prev_state are no longer protected",
			algs: []roomversion.RedactionAlgorithm{roomversion.RedactionV11},
			want: `{"auth_events":["$a"],"content":{},"depth":5,"event_id":"$e:x","hashes":{"sha256":"h"},
				"origin_server_ts":7,"prev_events":["$p"],"room_id":"!r:x","sender":"@u:x",
				"signatures":{"x":{"ed25519:1":"s"}},"state_key":"s","type":"m.room.message"}`,
		},
	}
	for _, tc := range tests {
		for _, v := range versionsOf(tc.algs...) {
			t.Run(fmt.Sprintf("%s/v%s", tc.name, v.ID), func(t *testing.T) {
				checkRedact(t, v, in, tc.want)
			})
		}
	}
}

func checkRedact(t *testing.T, v *roomversion.Version, in, want string) {
	t.Helper()
	raw := []byte(in)
	orig := bytes.Clone(raw)
	got, err := Redact(raw, v)
	if err != nil {
		t.Fatalf("Redact: %v", err)
	}
	if w := mustCanon(t, want); !bytes.Equal(got, w) {
		t.Errorf("Redact(v%s) =\n%s\nwant\n%s", v.ID, got, w)
	}
	if !bytes.Equal(raw, orig) {
		t.Errorf("Redact changed its input")
	}
	// Redaction is idempotent.
	again, err := Redact(got, v)
	if err != nil || !bytes.Equal(again, got) {
		t.Errorf("Redact(Redact(x)) = %s, %v, want %s", again, err, got)
	}
}

// Content keys per event type, from each version's redaction section.
func TestRedactContent(t *testing.T) {
	v1, v6, v8, v9, v11 := roomversion.RedactionV1, roomversion.RedactionV6, roomversion.RedactionV8, roomversion.RedactionV9, roomversion.RedactionV11
	tests := []struct {
		name    string
		algs    []roomversion.RedactionAlgorithm
		typ     string
		content string
		want    string
	}{
		{"redactions v1-v8: m.room.member keeps membership only", []roomversion.RedactionAlgorithm{v1, v6, v8}, "m.room.member",
			`{"membership":"join","displayname":"d","join_authorised_via_users_server":"@a:x","third_party_invite":{"signed":{"token":"t"},"display_name":"n"}}`,
			`{"membership":"join"}`},
		{"redactions v9-v10: m.room.member keeps membership, join_authorised_via_users_server", []roomversion.RedactionAlgorithm{v9}, "m.room.member",
			`{"membership":"join","displayname":"d","join_authorised_via_users_server":"@a:x","third_party_invite":{"signed":{"token":"t"},"display_name":"n"}}`,
			`{"membership":"join","join_authorised_via_users_server":"@a:x"}`},
		{"redactions v11: m.room.member also keeps the signed key of third_party_invite", []roomversion.RedactionAlgorithm{v11}, "m.room.member",
			`{"membership":"invite","displayname":"d","join_authorised_via_users_server":"@a:x","third_party_invite":{"signed":{"token":"t"},"display_name":"n"}}`,
			`{"membership":"invite","join_authorised_via_users_server":"@a:x","third_party_invite":{"signed":{"token":"t"}}}`},
		{"redactions v11: m.room.member third_party_invite without signed keeps an empty object", []roomversion.RedactionAlgorithm{v11}, "m.room.member",
			`{"membership":"invite","third_party_invite":{"display_name":"n"}}`,
			`{"membership":"invite","third_party_invite":{}}`},
		{"redactions v11: m.room.member third_party_invite that is not an object is dropped", []roomversion.RedactionAlgorithm{v11}, "m.room.member",
			`{"membership":"invite","third_party_invite":"x"}`,
			`{"membership":"invite"}`},
		{"redactions v1-v10: m.room.create keeps creator", algsV1toV9, "m.room.create",
			`{"creator":"@a:x","room_version":"5","m.federate":false,"predecessor":{"room_id":"!o:x"}}`,
			`{"creator":"@a:x"}`},
		{"redactions v11: m.room.create keeps all keys", []roomversion.RedactionAlgorithm{v11}, "m.room.create",
			`{"creator":"@a:x","room_version":"11","m.federate":false,"predecessor":{"room_id":"!o:x"}}`,
			`{"creator":"@a:x","room_version":"11","m.federate":false,"predecessor":{"room_id":"!o:x"}}`},
		{"redactions v1-v7: m.room.join_rules keeps join_rule", []roomversion.RedactionAlgorithm{v1, v6}, "m.room.join_rules",
			`{"join_rule":"restricted","allow":[{"type":"m.room_membership","room_id":"!r:x"}],"other":1}`,
			`{"join_rule":"restricted"}`},
		{"redactions v8+: m.room.join_rules also keeps allow", []roomversion.RedactionAlgorithm{v8, v9, v11}, "m.room.join_rules",
			`{"join_rule":"restricted","allow":[{"type":"m.room_membership","room_id":"!r:x"}],"other":1}`,
			`{"join_rule":"restricted","allow":[{"type":"m.room_membership","room_id":"!r:x"}]}`},
		{"redactions v1-v10: m.room.power_levels keeps ban events events_default kick redact state_default users users_default", algsV1toV9, "m.room.power_levels",
			`{"ban":1,"events":{"a":2},"events_default":3,"invite":4,"kick":5,"redact":6,"state_default":7,"users":{"@u:x":8},"users_default":9,"notifications":{"room":10},"historical":11}`,
			`{"ban":1,"events":{"a":2},"events_default":3,"kick":5,"redact":6,"state_default":7,"users":{"@u:x":8},"users_default":9}`},
		{"redactions v11: m.room.power_levels also keeps invite", []roomversion.RedactionAlgorithm{v11}, "m.room.power_levels",
			`{"ban":1,"events":{"a":2},"events_default":3,"invite":4,"kick":5,"redact":6,"state_default":7,"users":{"@u:x":8},"users_default":9,"notifications":{"room":10},"historical":11}`,
			`{"ban":1,"events":{"a":2},"events_default":3,"invite":4,"kick":5,"redact":6,"state_default":7,"users":{"@u:x":8},"users_default":9}`},
		{"redactions v1-v5: m.room.aliases keeps aliases", []roomversion.RedactionAlgorithm{v1}, "m.room.aliases",
			`{"aliases":["#a:x"],"other":1}`, `{"aliases":["#a:x"]}`},
		{"redactions v6+: m.room.aliases has no special meaning", []roomversion.RedactionAlgorithm{v6, v8, v9, v11}, "m.room.aliases",
			`{"aliases":["#a:x"],"other":1}`, `{}`},
		{"redactions v1+: m.room.history_visibility keeps history_visibility", algsAll, "m.room.history_visibility",
			`{"history_visibility":"shared","other":1}`, `{"history_visibility":"shared"}`},
		{"redactions v1-v10: m.room.redaction content is stripped", algsV1toV9, "m.room.redaction",
			`{"redacts":"$x","reason":"r"}`, `{}`},
		{"redactions v11: m.room.redaction keeps redacts", []roomversion.RedactionAlgorithm{v11}, "m.room.redaction",
			`{"redacts":"$x","reason":"r"}`, `{"redacts":"$x"}`},
		{"redactions v1+: other event types lose all content", algsAll, "m.room.message",
			`{"body":"b","msgtype":"m.text","membership":"join"}`, `{}`},
		{"redactions v1+: protected keys of other types do not apply", algsAll, "m.room.topic",
			`{"topic":"t","join_rule":"public","creator":"@a:x"}`, `{}`},
		{"redactions v1+: content that is not an object becomes empty", algsAll, "m.room.member",
			`"join"`, `{}`},
	}
	for _, tc := range tests {
		for _, v := range versionsOf(tc.algs...) {
			t.Run(fmt.Sprintf("%s/v%s", tc.name, v.ID), func(t *testing.T) {
				in := fmt.Sprintf(`{"type":%q,"state_key":"","sender":"@u:x","content":%s}`, tc.typ, tc.content)
				want := fmt.Sprintf(`{"type":%q,"state_key":"","sender":"@u:x","content":%s}`, tc.typ, tc.want)
				checkRedact(t, v, in, want)
			})
		}
	}
}

func TestRedactRejects(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"not JSON", `{`},
		{"not an object", `[1]`},
		{"duplicate key", `{"type":"a","type":"b"}`},
		{"float in v6+ (strict canonical JSON)", `{"type":"a","depth":1.5}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := Redact([]byte(tc.in), roomversion.V11); err == nil {
				t.Errorf("Redact(%s) = %s, want error", tc.in, got)
			}
		})
	}
	if _, err := Redact([]byte(`{}`), nil); err == nil {
		t.Errorf("Redact with no version = nil error")
	}
	// Rooms v1–v5 keep floats, written as Python writes them.
	got, err := Redact([]byte(`{"type":"a","depth":1.50,"content":{}}`), roomversion.V5)
	if want := `{"content":{},"depth":1.5,"type":"a"}`; err != nil || string(got) != want {
		t.Errorf("Redact(v5 float) = %s, %v, want %s", got, err, want)
	}
}
