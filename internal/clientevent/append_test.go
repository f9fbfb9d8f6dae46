package clientevent

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

func TestAppendJSONEncodesAsEncodingJSON(t *testing.T) {
	// AppendJSON writes each field by hand: a field added to Event or
	// Unsigned must be added there too.
	if n := reflect.TypeOf(Event{}).NumField(); n != 9 {
		t.Fatalf("Event has %d fields; AppendJSON writes 9", n)
	}
	if n := reflect.TypeOf(Unsigned{}).NumField(); n != 8 {
		t.Fatalf("Unsigned has %d fields; AppendJSON writes 8", n)
	}
	sk, empty := "@a:x", ""
	events := []Event{
		{Content: json.RawMessage(`{"body":"hi <b>&</b> \"q\" é \u2028"}`), EventID: "$e1", OriginServerTS: 1234, Sender: "@a:x", Type: "m.room.message"},
		{Content: json.RawMessage(`{}`), EventID: "$e2", RoomID: "!r:x", Sender: "@a:x", StateKey: &empty, Type: "m.room.topic",
			Unsigned: &Unsigned{Age: 5}},
		{Content: json.RawMessage(`{"membership":"join"}`), EventID: "$e3", RoomID: "!r:x", Sender: "@a:x", StateKey: &sk,
			Type: "m.room.member", Redacts: "$x", Unsigned: &Unsigned{
				Age: 7, TransactionID: "t\n1", PrevContent: json.RawMessage(`{"membership":"invite"}`), PrevSender: "@b:x", ReplacesState: "$prev\"id",
				RedactedBecause: json.RawMessage(`{"type":"m.room.redaction"}`), Membership: "join",
				Relations: json.RawMessage(`{"m.reference":{"chunk":[{"event_id":"$r"}]}}`),
			}},
		{Content: json.RawMessage(`{}`), EventID: "$e4", Sender: "@\x01odd:x", Type: "weird\"type", Unsigned: &Unsigned{}},
	}
	for _, list := range [][]Event{nil, events[:1], events} {
		want, err := json.Marshal(append([]Event{}, list...))
		if err != nil {
			t.Fatal(err)
		}
		got := AppendList(nil, list)
		if !json.Valid(got) {
			t.Fatalf("AppendList = %s: not JSON", got)
		}
		var w, g any
		if err := json.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(w, g) {
			t.Errorf("AppendList = %s\nencoding/json = %s", got, want)
		}
	}
	// Without anything encoding/json escapes differently, the bytes match,
	// field order included.
	want, _ := json.Marshal(events[1:3])
	if got := AppendList(nil, events[1:3]); !bytes.Equal(got, want) {
		t.Errorf("AppendList = %s\nencoding/json = %s", got, want)
	}
}
