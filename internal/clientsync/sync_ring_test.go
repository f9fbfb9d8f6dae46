package clientsync

import (
	"encoding/json"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// TestRingAndDatabaseAgree runs the same incremental syncs against a
// Service whose ring covers since and one whose ring is too small to, and
// requires identical responses.
func TestRingAndDatabaseAgree(t *testing.T) { forEachBackend(t, testRingAndDatabaseAgree) }

func testRingAndDatabaseAgree(t *testing.T) {
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
		{"sync: the user leaves after more events than the timeline holds, then a few more", func(h *harness, r id.RoomID) {
			for _, b := range msgs(15, "m") {
				h.send(r, alice, b)
			}
			h.member(r, bob, bob, "leave")
			for _, b := range msgs(3, "after") {
				h.send(r, alice, b)
			}
		}},
		{"sync: the user is kicked, then a window wider than any timeline", func(h *harness, r id.RoomID) {
			h.send(r, alice, "before")
			h.member(r, alice, bob, "leave")
			h.sendMany(r, alice, wideWindow)
		}},
		{"sync: the user is banned, then a window wider than any timeline", func(h *harness, r id.RoomID) {
			h.member(r, alice, bob, "ban")
			h.sendMany(r, alice, wideWindow)
		}},
		{"sync: a rename and a topic, then a window wider than any timeline", func(h *harness, r id.RoomID) {
			h.state(r, alice, "m.room.name", "", `{"name":"N"}`)
			h.state(r, alice, "m.room.topic", "", `{"topic":"T"}`)
			h.sendMany(r, alice, wideWindow)
		}},
		{"sync: another member joins early in a window wider than any timeline", func(h *harness, r id.RoomID) {
			h.member(r, carol, carol, "join")
			h.sendMany(r, alice, wideWindow)
			h.state(r, alice, "m.room.topic", "", `{"topic":"late"}`)
			h.send(r, alice, "last")
		}},
		{"sync: state changes inside the timeline", func(h *harness, r id.RoomID) {
			h.send(r, alice, "a")
			h.state(r, alice, "m.room.topic", "", `{"topic":"in timeline"}`)
			h.send(r, alice, "b")
		}},
		{"sync: state changes before and inside a limited timeline", func(h *harness, r id.RoomID) {
			h.state(r, alice, "m.room.name", "", `{"name":"early"}`)
			for _, b := range msgs(12, "m") {
				h.send(r, alice, b)
			}
			h.state(r, alice, "m.room.topic", "", `{"topic":"late"}`)
			h.send(r, alice, "last")
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
			if err := small.caughtUp(h.ctx); err != nil {
				t.Fatal(err)
			}
			if _, ok := small.timeline.Range(mustParse(t, since), small.Position()); ok {
				t.Fatal("small ring still covers since")
			}
			lazy, err := ParseFilter([]byte(`{"room":{"timeline":{"limit":3},"state":{"lazy_load_members":true}}}`))
			if err != nil {
				t.Fatal(err)
			}
			variants := []struct {
				name string
				req  Request
			}{
				{"plain", Request{User: bob, Device: "DEV", Since: since}},
				{"full_state", Request{User: bob, Device: "DEV", Since: since, FullState: true}},
				{"limit 3, lazy members", Request{User: bob, Device: "DEV", Since: since, Filter: lazy}},
				{"use_state_after", Request{User: bob, Device: "DEV", Since: since, UseStateAfter: true}},
				{"use_state_after, full_state", Request{User: bob, Device: "DEV", Since: since, FullState: true, UseStateAfter: true}},
				{"use_state_after, limit 3, lazy members", Request{User: bob, Device: "DEV", Since: since, Filter: lazy, UseStateAfter: true}},
			}
			for _, v := range variants {
				fromRing, err := json.Marshal(h.syncWith(h.sync, v.req))
				if err != nil {
					t.Fatal(err)
				}
				fromDB, err := json.Marshal(h.syncWith(small, v.req))
				if err != nil {
					t.Fatal(err)
				}
				if string(fromRing) != string(fromDB) {
					t.Errorf("%s: ring response:\n%s\ndatabase response:\n%s", v.name, fromRing, fromDB)
				}
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
