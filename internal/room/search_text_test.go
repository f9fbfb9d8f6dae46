package room

import (
	"testing"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
)

// TestSearchText checks the text search indexes per event type, with
// search.md's keys: content.body, content.name, and for a topic
// content.topic "as well as the body of the text/plain representation in
// content['m.topic']".
func TestSearchText(t *testing.T) {
	v, _ := roomversion.Lookup("11")
	for _, tc := range []struct {
		name, typ, content, want string
	}{
		{"message body", "m.room.message", `{"msgtype":"m.text","body":"hello there"}`, "hello there"},
		{"room name", "m.room.name", `{"name":"Harbour"}`, "Harbour"},
		{"topic", "m.room.topic", `{"topic":"plain topic"}`, "plain topic"},
		{"topic and the same text/plain", "m.room.topic", `{"topic":"same","m.topic":{"m.text":[{"body":"same"}]}}`, "same"},
		{"topic and another text/plain", "m.room.topic",
			`{"topic":"plain topic","m.topic":{"m.text":[{"mimetype":"text/html","body":"<b>html</b>"},{"body":"zebrafish topic"}]}}`,
			"plain topic\nzebrafish topic"},
		{"only m.topic", "m.room.topic", `{"topic":"","m.topic":{"m.text":[{"mimetype":"text/plain","body":"only here"}]}}`, "only here"},
		{"m.topic that is not an object", "m.room.topic", `{"topic":"t","m.topic":"nonsense"}`, "t"},
		{"empty body", "m.room.message", `{"msgtype":"m.text","body":""}`, ""},
		{"not searched", "m.reaction", `{"body":"x"}`, ""},
	} {
		proto := event.Proto{Type: tc.typ, RoomID: "!r:hafen.test", Sender: "@a:hafen.test", Content: []byte(tc.content), Depth: 1, OriginServerTS: 1}
		if tc.typ != "m.room.message" && tc.typ != "m.reaction" {
			empty := ""
			proto.StateKey = &empty
		}
		key, _ := signing.KeyFromSeed("hafen.test", "ed25519:test", make([]byte, 32))
		pdu, err := event.Build(proto, v, key)
		if err != nil {
			t.Fatalf("%s: build: %v", tc.name, err)
		}
		got, ok := SearchText(pdu)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%s: SearchText = %q, %v; want %q", tc.name, got, ok, tc.want)
		}
	}
}
