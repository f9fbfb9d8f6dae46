package clientsync

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/room"
)

// Spec: Client-Server API § Redactions: "the server should strip off any
// keys not in the following list" — a client must never receive the
// original content of a redacted event, on the store path (initial sync)
// nor on the ring path (catching up over a window holding both events).
func TestSyncServesRedactedEvents(t *testing.T) { forEachBackend(t, testSyncServesRedactedEvents) }

func testSyncServesRedactedEvents(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	h.member(roomID, bob, bob, room.MembershipJoin)
	since := h.pos()
	secret := h.send(roomID, alice, "secret")
	pdu, _, err := h.rooms.Send(h.ctx, roomID, room.Proposal{Type: "m.room.redaction", Sender: alice,
		Content: json.RawMessage(fmt.Sprintf(`{"redacts":%q}`, secret))})
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, evs []clientevent.Event) {
		t.Helper()
		for _, ev := range evs {
			if id.EventID(ev.EventID) != secret {
				continue
			}
			if string(ev.Content) != "{}" {
				t.Errorf("%s: redacted event content = %s, want {}", name, ev.Content)
			}
			var because struct {
				EventID string `json:"event_id"`
			}
			if ev.Unsigned == nil || json.Unmarshal(ev.Unsigned.RedactedBecause, &because) != nil || because.EventID != string(pdu.EventID()) {
				t.Errorf("%s: unsigned.redacted_because does not name %s: %+v", name, pdu.EventID(), ev.Unsigned)
			}
			return
		}
		t.Errorf("%s: the redacted event is not in the timeline", name)
	}
	check("initial sync", roomsOf(h.initial(bob, nil)).Join[string(roomID)].Timeline.Events)
	check("incremental sync", roomsOf(h.next(bob, since, nil)).Join[string(roomID)].Timeline.Events)
}
