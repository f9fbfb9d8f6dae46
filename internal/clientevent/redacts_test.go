package clientevent

import (
	"encoding/json"
	"testing"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// Room version 11: servers add redacts to the content of redaction events
// of older versions when they serve them to clients; from version 11 it
// is in the content already and stays as it is.
func TestFormatCopiesRedactsIntoContent(t *testing.T) {
	for _, tc := range []struct {
		version, raw, want string
	}{
		{"10", `{"type":"m.room.redaction","sender":"@a:x","room_id":"!r:x","redacts":"$target","content":{"reason":"spam"},"depth":2,"origin_server_ts":1,"prev_events":[],"auth_events":[]}`,
			`{"reason":"spam","redacts":"$target"}`},
		{"11", `{"type":"m.room.redaction","sender":"@a:x","room_id":"!r:x","content":{"redacts":"$target"},"depth":2,"origin_server_ts":1,"prev_events":[],"auth_events":[]}`,
			`{"redacts":"$target"}`},
	} {
		v, ok := roomversion.Lookup(roomversion.ID(tc.version))
		if !ok {
			t.Fatalf("no room version %s", tc.version)
		}
		pdu, err := event.ParseTrusted([]byte(tc.raw), v, "$redaction")
		if err != nil {
			t.Fatal(err)
		}
		ev := Format(pdu, 0, true)
		var got, want any
		if json.Unmarshal(ev.Content, &got) != nil || json.Unmarshal([]byte(tc.want), &want) != nil || !equal(got, want) || ev.Redacts != "$target" {
			t.Errorf("v%s: content %s, redacts %q; want %s and $target", tc.version, ev.Content, ev.Redacts, tc.want)
		}
	}
}

func equal(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
