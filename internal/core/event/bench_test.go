package event

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// benchMessage returns a signed room v12 m.room.message of about 1 KB.
func benchMessage(b *testing.B) (*PDU, []byte) {
	b.Helper()
	key := testKey(b, "example.org")
	v := roomversion.V12
	body := strings.Repeat("lorem ipsum dolor sit amet ", 22)
	content, _ := json.Marshal(map[string]any{"msgtype": "m.text", "body": body,
		"m.relates_to": map[string]any{"m.in_reply_to": map[string]any{"event_id": refID(v, "reply")}}})
	e, err := Build(Proto{Type: "m.room.message", Sender: "@alice:example.org",
		RoomID: id.RoomID("!" + refID(v, "create")[1:]), Content: content,
		PrevEvents: []id.EventID{id.EventID(refID(v, "prev"))},
		AuthEvents: []id.EventID{id.EventID(refID(v, "pl")), id.EventID(refID(v, "member"))},
		Depth:      1234, OriginServerTS: testTS}, v, key)
	if err != nil {
		b.Fatal(err)
	}
	return e, e.JSON()
}

func BenchmarkComputeEventID(b *testing.B) {
	_, raw := benchMessage(b)
	b.Logf("event size: %d bytes", len(raw))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ComputeEventID(raw, roomversion.V12); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	_, raw := benchMessage(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(raw, roomversion.V12); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifySignatures(b *testing.B) {
	e, _ := benchMessage(b)
	lookup := lookupFor(testTS+1, testKey(b, "example.org"))
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifySignatures(e, lookup); err != nil {
			b.Fatal(err)
		}
	}
}
