package clientsync

import (
	"encoding/json"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// TestRingAndDatabaseAgree runs the same incremental syncs against a
// Service whose ring covers since and one whose ring is too small to, and
// requires identical responses.
func TestRingAndDatabaseAgree(t *testing.T) {
	cases := []struct {
		name string
		act  func(h *harness, r id.RoomID)
	}{
		{"sync: new messages", func(h *harness, r id.RoomID) { h.send(r, alice, "a"); h.send(r, bob, "b") }},
		{"sync: limited timeline with a state delta", func(h *harness, r id.RoomID) {
			h.state(r, alice, "m.room.name", "", `{"name":"N"}`)
			for _, b := range msgs(12, "m") {
				h.send(r, alice, b)
			}
		}},
		{"sync: another member joins", func(h *harness, r id.RoomID) { h.member(r, carol, carol, "join"); h.send(r, carol, "hi") }},
		{"sync: the user leaves", func(h *harness, r id.RoomID) {
			h.send(r, alice, "bye")
			h.member(r, bob, bob, "leave")
			h.send(r, alice, "after")
		}},
		{"sync: the user is invited elsewhere", func(h *harness, r id.RoomID) {
			other := h.createRoom(alice)
			h.member(other, alice, bob, "invite")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 0)
			small := h.addSync(1)
			roomID := h.createRoom(alice)
			h.member(roomID, bob, bob, "join")
			// Both services load bob's memberships before the change.
			since := h.initial(bob, nil).NextBatch
			h.syncWith(small, Request{User: bob, Device: "DEV"})
			tc.act(h, roomID)
			h.send(h.createRoom(dave), dave, "push the small ring past since")
			if _, ok := small.timeline.Range(mustParse(t, since), small.Position()); ok {
				t.Fatal("small ring still covers since")
			}
			req := Request{User: bob, Device: "DEV", Since: since}
			fromRing, err := json.Marshal(h.syncWith(h.sync, req))
			if err != nil {
				t.Fatal(err)
			}
			fromDB, err := json.Marshal(h.syncWith(small, req))
			if err != nil {
				t.Fatal(err)
			}
			if string(fromRing) != string(fromDB) {
				t.Errorf("ring response:\n%s\ndatabase response:\n%s", fromRing, fromDB)
			}
		})
	}
}

func mustParse(t *testing.T, tok string) int64 {
	t.Helper()
	st, err := ParseSyncToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	return st.Events
}
